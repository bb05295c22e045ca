"""``python -m hydrarec_minimal check-attention``: a one-minute tour of the four kernels.

Prints, for random inputs: the largest difference between fast Hydra attention and the slow
reference (float64), whether each kernel's causal mode leaks the future, and the time of each
kernel as the sequence grows, so you can watch softmax go quadratic while Hydra stays linear.
"""

from __future__ import annotations

import argparse

import torch

from hydrarec_minimal.attention import ATTENTION_KERNELS, hydra_attention, hydra_attention_reference
from hydrarec_minimal.course.benchmark import describe_machine, time_call


def reference_gap(n: int = 64, d: int = 16, seed: int = 0) -> dict[str, float]:
    """Max |fast - reference| of Hydra attention in float64, causal and bidirectional, with padding.

    Random (2, n, d) inputs; the second sequence has its first n // 4 tokens padded.
    """
    generator = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(3, 2, n, d, generator=generator, dtype=torch.float64)
    mask = torch.ones(2, n, dtype=torch.bool)
    mask[1, : n // 4] = False
    return {
        direction: (
            hydra_attention(q, k, v, causal=causal, mask=mask)
            - hydra_attention_reference(q, k, v, causal=causal, mask=mask)
        )
        .abs()
        .max()
        .item()
        for direction, causal in (("causal", True), ("bidirectional", False))
    }


def future_leak(kind: str, n: int = 32, d: int = 8, seed: int = 0) -> float:
    """Largest change of outputs at t < n/2 when every token at t >= n/2 is replaced (causal mode).

    Zero means no leak. Float64, shape (1, n, d).
    """
    generator = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(3, 1, n, d, generator=generator, dtype=torch.float64)
    q2, k2, v2 = (x.clone() for x in (q, k, v))
    for x in (q2, k2, v2):
        x[:, n // 2 :] = torch.randn(1, n - n // 2, d, generator=generator, dtype=torch.float64)
    kernel = ATTENTION_KERNELS[kind]
    before = kernel(q, k, v, causal=True)[:, : n // 2]
    after = kernel(q2, k2, v2, causal=True)[:, : n // 2]
    return (before - after).abs().max().item()


def time_kernel(kind: str, n: int, d: int = 64, batch: int = 4, repeats: int = 3) -> float:
    """Best seconds of one causal forward pass on (batch, n, d) float32 inputs (``time_call``)."""
    q, k, v = torch.randn(3, batch, n, d)
    kernel = ATTENTION_KERNELS[kind]
    with torch.no_grad():
        return time_call(lambda: kernel(q, k, v, causal=True), repeats=repeats).best


def run(args: argparse.Namespace) -> int:
    """Print the tour; see the module docstring."""
    print("Hydra attention, fast vs reference")
    print("(float64, random inputs with padding, shape (2, 64, 16)):")
    for direction, gap in reference_gap().items():
        print(f"  {direction:<14} max |fast - reference| = {gap:.1e}")
    print("\nCausal mode, change every token in the second half; largest change in the first half:")
    for kind in ATTENTION_KERNELS:
        print(f"  {kind:<8} {future_leak(kind):.1e}")
    lengths = args.lengths
    print("\nTime of one causal forward pass (ms), batch 4, d = 64, float32, on")
    print(f"  {describe_machine()}")
    print("  n        " + "".join(f"{kind:>10}" for kind in ATTENTION_KERNELS))
    for n in lengths:
        times = [time_kernel(kind, n) * 1e3 for kind in ATTENTION_KERNELS]
        print(f"  {n:<9}" + "".join(f"{t:>10.2f}" for t in times))
    return 0


HELP = "compare the four attention kernels with the reference and time them"
"""One line for ``python -m hydrarec_minimal --help``."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``check-attention``."""
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[256, 1024, 4096],
        metavar="N",
        help="sequence lengths to time (default: 256 1024 4096)",
    )
