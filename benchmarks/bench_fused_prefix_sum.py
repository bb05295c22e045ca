"""Benchmark: how many levels of blocks the compiled causal Hydra prefix sum should have.

    python benchmarks/bench_fused_prefix_sum.py [--lengths 256 4096 8192] [--levels 1 2 3] \\
        [--tokens 8192] [--repeats 15]

``fused.hydra_formula`` computes the causal prefix sum in blocks of 8 tokens
(``fused.blocked_prefix_sum``). The block totals, one per 8 tokens, need a prefix sum of their
own: with one level it is PyTorch's ``cumsum``, which on the CPU adds one number at a time
down each feature column; with two, the totals are summed in blocks of 8 again and ``cumsum``
gets one row per 64 tokens; and so on.

For each length n (batch = tokens / n, d = 64) and each number of levels, the formula is
compiled by ``torch.compile`` as ``fused_hydra_attention`` compiles it, and this script
measures

- the causal forward pass (no gradients) and forward + backward with ``benchmark.sweep_lengths``
  as ``bench_attention.py`` does (every level count and length timed in turns, best of
  ``--repeats``; peak memory), with that script's copy floor (copy q, k, v and an output once)
  timed with the forward passes;
- the time per forward call spent in ``aten::cumsum``, from ``torch.profiler`` over 300 calls
  (the profiler adds its own overhead to every call: read it as a share, not as a timing).

Writes ``benchmarks/results/fused_prefix_sum_<device>.csv`` and prints, per n and level count,
the forward time against the floor and both modes' times against one level's.

The script restarts itself once with glibc ``malloc`` told to keep freed memory
(``benchmark.steady_allocator``), as the other benchmarks do.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import pandas as pd
import torch
from bench_attention import DEFAULT_TOKENS, FLOOR, RESULTS, copy_floor

from hydrarec_minimal.course.benchmark import (
    attention_call,
    attention_inputs,
    describe_machine,
    quiet_profiler,
    steady_allocator,
    sweep_lengths,
)
from hydrarec_minimal.fast.fused import MAX_SHAPES, hydra_formula

#: Calls profiled per measurement of ``aten::cumsum``.
PROFILED_CALLS = 300


def cumsum_seconds_per_call(forward: Callable[[], object]) -> float:
    """Mean ``aten::cumsum`` time (self CPU) per call of ``forward``, from the profiler."""
    quiet_profiler()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(PROFILED_CALLS):
            forward()
    total_us = sum(
        event.self_cpu_time_total
        for event in profiler.key_averages()
        if event.key == "aten::cumsum"
    )
    return total_us * 1e-6 / PROFILED_CALLS


def measure(
    lengths: list[int], levels: list[int], tokens: int, repeats: int, device: torch.device
) -> pd.DataFrame:
    """``sweep_lengths``' rows (causal; forward with the floor, and forward + backward), with
    the columns ``levels`` (empty for the floor) and ``cumsum_seconds_profiled`` (forward)."""
    names = {f"hydra, levels={count}": count for count in levels}  # "hydra…": Hydra's inputs
    kernels = {
        name: torch.compile(partial(hydra_formula, mask=None, levels=count), dynamic=False)
        for name, count in names.items()
    }
    sweep = partial(sweep_lengths, lengths=lengths, tokens=tokens, repeats=repeats, device=device)
    # every level count, length and mode compiles hydra_formula once more
    with torch._dynamo.config.patch(recompile_limit=MAX_SHAPES):
        table = pd.concat(
            [sweep(kernels | {FLOOR: copy_floor}), sweep(kernels, backward=True)],
            ignore_index=True,
        )
        cumsum = {
            (name, n): cumsum_seconds_per_call(
                attention_call(
                    kernel,
                    *attention_inputs(name, n, batch=tokens // n, device=device),
                    causal=True,
                    backward=False,
                )
            )
            for name, kernel in kernels.items()
            for n in lengths
        }
    table["levels"] = table.kind.map(names)
    table["cumsum_seconds_profiled"] = [
        None if row.backward else cumsum.get((row.kind, row.n)) for row in table.itertuples()
    ]
    return table


def report(table: pd.DataFrame) -> None:
    """Per n and level count: forward against the floor, both modes against one level."""
    indexed = table.set_index(["n", "backward", "kind"])
    seconds, profiled = indexed.seconds, indexed.cumsum_seconds_profiled
    one_level = next(iter(table.kind[table.levels == 1]), None)
    for n in sorted(table.n.unique()):
        floor = seconds[n, False, FLOOR]
        for row in table[(table.n == n) & ~table.backward & table.levels.notna()].itertuples():
            forward, both = row.seconds, seconds[n, True, row.kind]
            speed = (
                f"; one level's time / this: forward "
                f"{seconds[n, False, one_level] / forward:.2f}x, "
                f"forward+backward {seconds[n, True, one_level] / both:.2f}x"
                if one_level
                else ""
            )
            print(
                f"n={n:5d}  {row.kind}  causal forward {forward * 1e6:4.0f} µs "
                f"= {forward / floor:.2f}x the copy floor ({floor * 1e6:.0f} µs), "
                f"aten::cumsum {profiled[n, False, row.kind] * 1e6:.0f} µs per profiled call; "
                f"forward+backward {both * 1e6:4.0f} µs{speed}"
            )


def main() -> None:
    steady_allocator()  # as bench_attention.py: measure the kernels, not page faults
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 4096, 8192])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if any(count < 1 for count in args.levels):
        parser.error(f"every level count must be at least 1; got {args.levels}")
    if any(n < 1 or args.tokens % n for n in args.lengths):
        parser.error(f"every length must divide --tokens {args.tokens}; got {args.lengths}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")
    device = torch.device(args.device)
    print(describe_machine(device))
    print(
        f"causal Hydra attention compiled by torch.compile, {args.tokens} tokens per call, "
        f"d = 64, best of {args.repeats}"
    )
    table = measure(args.lengths, args.levels, args.tokens, args.repeats, device)
    report(table)
    path = RESULTS / f"fused_prefix_sum_{device.type}.csv"
    table.to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
