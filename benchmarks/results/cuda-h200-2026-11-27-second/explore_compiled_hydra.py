"""Exploration (not package code): causal Hydra attention fused by ``torch.compile``.

    python explore_compiled_hydra.py cuda 8192      # device, tokens per call

Times, with the package's ``benchmark.sweep_lengths`` (forward, then forward + backward, at
n = 256 and 4,096 with the tokens per call held fixed):

- ``hydra``: the package's kernel (``attention.hydra_attention``: eager, hand-derived backward);
- ``plain_compiled``: the textbook formula (normalise, multiply, ``cumsum``) under
  ``torch.compile``, autograd deriving the backward;
- ``loop_compiled``: the same with the prefix sum written in blocks of 8 tokens;
- ``softmax`` (on CUDA only): ``attention.softmax_attention``.

The run in ``benchmarks.log`` used this code as two scratch files (merged here unchanged in
what they compute). Non-hydra kernels get ``(batch, 1, n, d)`` inputs from ``attention_inputs``.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from hydrarec_minimal.attention import EPS, hydra_attention, softmax_attention
from hydrarec_minimal.course.benchmark import describe_machine, sweep_lengths


def hydra_plain(q, k, v, causal=False, mask=None):
    q_hat = F.normalize(q, dim=-1, eps=EPS)
    k_hat = F.normalize(k, dim=-1, eps=EPS)
    kv = k_hat * v
    context = kv.cumsum(-2) if causal else kv.sum(-2, keepdim=True)
    return q_hat * context


def blocked_loop(x, block=8):
    *lead, n, d = x.shape
    b = x.reshape(*lead, n // block, block, d)
    slots = [b[..., 0, :]]
    for i in range(1, block):
        slots.append(slots[-1] + b[..., i, :])
    inner = torch.stack(slots, -2)
    totals = slots[-1]
    before = totals.cumsum(-2) - totals
    return (inner + before.unsqueeze(-2)).reshape(*lead, n, d)


def hydra_loop(q, k, v, causal=True, mask=None):  # always causal
    q_hat = F.normalize(q, dim=-1, eps=EPS)
    k_hat = F.normalize(k, dim=-1, eps=EPS)
    return q_hat * blocked_loop(k_hat * v)


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 8192
    print(describe_machine(device))
    torch._dynamo.config.recompile_limit = 64
    kernels = {
        "hydra": hydra_attention,
        "plain_compiled": torch.compile(hydra_plain, dynamic=False),
        "loop_compiled": torch.compile(hydra_loop, dynamic=False),
    }
    if device == "cuda":
        kernels["softmax"] = softmax_attention
    for backward in (False, True):
        start = time.time()
        table = sweep_lengths(
            kernels, [256, 4096], tokens=tokens, backward=backward, memory=False, repeats=7,
            device=device,
        )  # fmt: skip
        print("backward" if backward else "forward", f"({time.time() - start:.0f} s incl. compile)")
        table = table[["kind", "n", "batch", "seconds"]].assign(ms=lambda t: t.seconds * 1e3)
        print(table.round(4).to_string())


if __name__ == "__main__":
    main()
