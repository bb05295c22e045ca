"""Benchmark: the four attention kernels against sequence length, at a fixed token budget.

    python benchmarks/bench_attention.py [--tokens 8192] [--max-n 8192] [--repeats 15]
                                         [--device cpu] [--no-fused]

For n = 64, 128, ..., max-n at d = 64 (softmax / linear / LinRec with 2 heads of 32, Hydra with
64 heads of 1), with the number of tokens per call held fixed (batch = tokens / n), measures
the time and the peak memory (``hydrarec_minimal.course.benchmark.sweep_lengths``) of

    softmax, linear, linrec, hydra  x  forward, forward+backward  x  causal, bidirectional

and, unless ``--no-fused``, ``hydra (fused)``: the same attention compiled by
``torch.compile`` (``hydrarec_minimal.fast.fused``; compiling adds about a minute to the run),

and, with the causal forward passes, a memory-traffic floor: the time to copy the kernel's
inputs (q, k, v) and its output once (four ``clone``s of (batch, n, d) tensors). No attention
kernel can beat it: every kernel reads its inputs and writes its output at least once.

Each time is the best of ``--repeats`` timed batches (15), the batches of all kernels and
lengths of one panel (say causal forward, floor included) taken in turns: this shared
machine's noise comes in bursts of seconds, which would otherwise spoil every batch of a few
points and none of their neighbours.

Writes ``benchmarks/results/attention_<device>.csv`` and the figure
``figures/bench_attention_<device>.png`` (``attention_<device>_<tokens>tokens.csv`` and
``bench_attention_<device>_<tokens>tokens.png`` for another ``--tokens``: a GPU needs far more
work per call than a CPU before launch overheads stop dominating), and prints the ratios
the course's targets use: hydra vs softmax (forward+backward, causal) at n = 256 and n = 4,096,
hydra's spread of time per token across n, and hydra's forward time over the floor; the same
for the fused version, and fused against eager Hydra.

The script restarts itself once with glibc ``malloc`` told to keep freed memory
(``benchmark.steady_allocator``): otherwise page faults on freshly returned memory add noise
of the same size as the differences measured. The machine line it prints says "steady malloc".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import Tensor

from hydrarec_minimal.attention import ATTENTION_KERNELS
from hydrarec_minimal.course.benchmark import describe_machine, steady_allocator, sweep_lengths
from hydrarec_minimal.course.plotting import KIND_COLOURS, save_figure
from hydrarec_minimal.fast.fused import fused_hydra_attention

KINDS = ("softmax", "linear", "linrec", "hydra")
FUSED = "hydra (fused)"
FLOOR = "copy floor"
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_TOKENS = 8192


def copy_floor(q: Tensor, k: Tensor, v: Tensor, causal: bool = False) -> list[Tensor]:
    """The memory-traffic floor, called like a kernel: copy q, k, v and an output-sized tensor.

    Args:
        q, k, v: ``(..., n, d)``.
        causal: ignored (a copy has no direction).

    Returns:
        The four copies, each ``(..., n, d)``.
    """
    return [x.clone() for x in (q, k, v, torch.empty_like(q))]


def run_sweeps(
    lengths: list[int], tokens: int, d: int, device: str, repeats: int, fused: bool
) -> pd.DataFrame:
    """Every kernel (and the fused one) x mode x direction, plus the floor, as one table."""
    tables = []
    for causal in (True, False):
        for backward in (False, True):
            label = f"{'causal' if causal else 'bidirectional'}, {'fwd+bwd' if backward else 'fwd'}"
            print(f"-- {label}", flush=True)
            kernels = {kind: ATTENTION_KERNELS[kind] for kind in KINDS}
            if fused:
                kernels[FUSED] = fused_hydra_attention
            if causal and not backward:
                kernels[FLOOR] = copy_floor  # timed in turns with the forward passes it bounds
            tables.append(
                sweep_lengths(
                    kernels, lengths, d=d, tokens=tokens, heads=2, causal=causal,
                    backward=backward, repeats=repeats, device=device, progress=True,
                )
            )  # fmt: skip
    return pd.concat(tables, ignore_index=True)


def report(table: pd.DataFrame) -> list[str]:
    """The issue's ratios, one line each, from the measured table."""

    def seconds(kind: str, n: int, causal: bool = True, backward: bool = True) -> float:
        rows = table[(table.kind == kind) & (table.n == n)]
        rows = rows[(rows.causal == causal) & (rows.backward == backward)]
        return float(rows.seconds.iloc[0])

    lines = []
    lengths = sorted(table.n.unique())
    for hydra in [kind for kind in ("hydra", FUSED) if kind in set(table.kind)]:
        for n, target in ((256, 2.0), (4096, 10.0)):
            if n in lengths:
                ratio = seconds("softmax", n) / seconds(hydra, n)
                lines.append(
                    f"softmax / {hydra} time, causal forward+backward, n = {n}: {ratio:.1f}x "
                    f"(target >= {target:g}x)"
                )
        points = table[(table.kind == hydra) & table.causal & table.backward]
        per_token = points.seconds / (points.batch * points.n)
        lines.append(
            f"{hydra} causal forward+backward, time per token, max/min over n = "
            f"{per_token.max() / per_token.min():.2f}x (target <= 1.5x)"
        )
        worst = max(
            seconds(hydra, n, backward=False) / seconds(FLOOR, n, backward=False) for n in lengths
        )
        lines.append(f"{hydra} causal forward / copy floor, worst n: {worst:.1f}x (target <= 3x)")
    if FUSED in set(table.kind):
        for causal in (True, False):
            for backward in (False, True):
                ratios = [
                    seconds("hydra", n, causal, backward) / seconds(FUSED, n, causal, backward)
                    for n in lengths
                ]
                lines.append(
                    f"hydra / {FUSED} time, {'causal' if causal else 'bidirectional'} "
                    f"{'forward+backward' if backward else 'forward'}: "
                    f"{min(ratios):.2f}x to {max(ratios):.2f}x over n"
                )
    return lines


def plot(table: pd.DataFrame, title: str):
    """Time per token against n, one panel per direction x mode, the floor dashed."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    floor = table[table.kind == FLOOR]
    for row, causal in enumerate((True, False)):
        for column, backward in enumerate((False, True)):
            ax = axes[row, column]
            panel = table[(table.causal == causal) & (table.backward == backward)]
            for kind in [kind for kind in (*KINDS, FUSED) if kind in set(panel.kind)]:
                points = panel[panel.kind == kind]
                per_token = points.seconds / (points.batch * points.n) * 1e9
                style = ":" if kind == FUSED else "-"  # the fused one in Hydra's colour, dotted
                colour = KIND_COLOURS[kind.split()[0]]
                ax.plot(points.n, per_token, "o" + style, color=colour, label=kind)
            ax.plot(floor.n, floor.seconds / (floor.batch * floor.n) * 1e9, "k--", label=FLOOR)
            ax.set(xscale="log", yscale="log", xlabel="sequence length n", ylabel="ns per token")
            ax.set_title(
                f"{'causal' if causal else 'bidirectional'}, "
                f"{'forward + backward' if backward else 'forward'}"
            )
            ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def main() -> None:
    steady_allocator()  # measure the kernels, not page faults (see its docstring)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokens", type=int, default=DEFAULT_TOKENS, help=f"tokens per call ({DEFAULT_TOKENS})"
    )
    parser.add_argument("--max-n", type=int, default=8192, help="longest sequence (8192)")
    parser.add_argument("--d", type=int, default=64, help="model width (64)")
    parser.add_argument(
        "--repeats", type=int, default=15, help="timed batches per point, best kept (15)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--no-fused", action="store_true", help="skip Hydra compiled by torch.compile"
    )
    args = parser.parse_args()
    lengths = [n for n in (2**p for p in range(6, 16)) if n <= args.max_n]
    machine = describe_machine(args.device)
    print(machine)
    table = run_sweeps(
        lengths, args.tokens, args.d, args.device, args.repeats, fused=not args.no_fused
    )
    RESULTS.mkdir(exist_ok=True)
    name = torch.device(args.device).type
    if args.tokens != DEFAULT_TOKENS:
        name += f"_{args.tokens}tokens"
    table.to_csv(RESULTS / f"attention_{name}.csv", index=False)
    title = f"Attention kernels, d = {args.d}, {args.tokens} tokens per call; {machine}"
    save_figure(plot(table, title), f"bench_attention_{name}.png")
    for line in report(table):
        print(line)


if __name__ == "__main__":
    main()
