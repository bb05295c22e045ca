"""Benchmark: HydraRec against softmax attention in its best form, before and after.

    python benchmarks/bench_fair_baselines.py [--lengths 256 1024 4096] [--stream 200 4096]

Whole model (d = 64, 2 layers, 2 softmax heads, 1,682 items, 4 histories of n items per call,
no padding, so only the mask's form differs): one training step (forward and backward of the
full cross-entropy) and one inference call (``score_last``), causal and bidirectional, for
HydraRec, softmax attention as the package runs it (SDPA with ``is_causal`` or a (batch, 1, 1,
n) key mask) and softmax with the (n, n) mask it built before (``square_mask_softmax.py``).

Streaming: one new interaction after n, for 1 and 64 users per call: HydraRec's O(d) step
against SASRec with a key/value cache (``course.kv_cache``: O(n·d)), and the numbers each
keeps per user.

Writes ``benchmarks/results/fair_baselines_cpu.csv`` and ``streaming_kv_cache_cpu.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from square_mask_softmax import softmax_with_square_mask  # this folder's: the "before" form

from hydrarec_minimal.course.benchmark import describe_machine, steady_allocator
from hydrarec_minimal.course.kv_cache import step_costs
from hydrarec_minimal.course.scaling import build_model, sweep_model_lengths

RESULTS = Path(__file__).resolve().parent / "results"


def whole_model(lengths: list[int], repeats: int) -> pd.DataFrame:
    tables = []
    for direction in ("causal", "bidirectional"):
        for label, kernel in (("square mask", softmax_with_square_mask), ("package", None)):
            sweep = sweep_model_lengths(
                ["softmax"], lengths, batch=4, direction=direction, repeats=repeats, kernel=kernel
            )
            tables.append(sweep.assign(kind=f"softmax ({label})", direction=direction))
        sweep = sweep_model_lengths(
            ["hydra"], lengths, batch=4, direction=direction, repeats=repeats
        )
        tables.append(sweep.assign(direction=direction))
    return pd.concat(tables, ignore_index=True)


def main() -> None:
    steady_allocator()  # measure the kernels, not page faults (see its docstring)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--stream", type=int, nargs="+", default=[200, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(describe_machine())
    RESULTS.mkdir(exist_ok=True)
    table = whole_model(args.lengths, args.repeats)
    table.to_csv(RESULTS / "fair_baselines_cpu.csv", index=False)
    for (direction, n), group in table.groupby(["direction", "n"], sort=False):
        rows = group.set_index("kind")
        for what in ("train", "infer"):
            before, after = (
                rows.at[f"softmax ({label})", f"{what}_seconds"]
                / rows.at["hydra", f"{what}_seconds"]
                for label in ("square mask", "package")
            )
            print(
                f"{direction:>13} n={n:<5} {what:<5} softmax / hydra: "
                f"before {before:6.2f}x  after {after:6.2f}x"
            )
    longest = max(args.stream) + 1
    hydra, sasrec = (build_model(kind, longest) for kind in ("hydra", "softmax"))
    streams = pd.concat(
        [step_costs(hydra, sasrec, args.stream, users=users) for users in (1, 64)],
        ignore_index=True,
    )
    streams.to_csv(RESULTS / "streaming_kv_cache_cpu.csv", index=False)
    for row in streams.to_dict("records"):
        print(
            f"stream n={row['n']:<5} users={row['users']:<3} hydra step "
            f"{row['hydra step seconds'] * 1e6:8.1f} us  SASRec cached step "
            f"{row['SASRec cached step seconds'] * 1e6:8.1f} us  ({row['ratio']:.2f}x)  state "
            f"{row['hydra state numbers']} vs {row['SASRec cache numbers']} numbers per user"
        )


if __name__ == "__main__":
    main()
