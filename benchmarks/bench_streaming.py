"""Benchmark: the cost of refreshing one user's recommendations after a new interaction.

    python benchmarks/bench_streaming.py [--lengths 16 32 64 128 200 400 800 1600]

For a history of n items and one new item, three ways to get the new scores (one user,
d = 64, 2 layers, 1,682 items as in ML-100K, untrained weights: speed does not depend on them):

    (a) streaming causal HydraRec: ``streaming.step`` on the saved state   -- O(d) per layer
    (b) causal HydraRec recomputed over the whole history (``score_last``)  -- O(n·d)
    (c) SASRec (softmax attention) recomputed over the whole history       -- O(n²·d)

Writes ``benchmarks/results/streaming_<device>.csv`` and prints the time of each per new
interaction and the ratios (c)/(a) and (b)/(a). Target (issue #7): (c)/(a) >= 20 at n = 200,
and (a) flat in n.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hydrarec_minimal.benchmark import describe_machine
from hydrarec_minimal.scaling import build_model, streaming_costs

RESULTS = Path(__file__).resolve().parent / "results"


def measure(lengths: list[int]) -> pd.DataFrame:
    longest = max(lengths) + 1
    hydra, sasrec = build_model("hydra", longest), build_model("softmax", longest)
    table = streaming_costs(hydra, sasrec, lengths)
    for _, row in table.iterrows():
        print(
            f"n={int(row.n):<5} "
            + "  ".join(f"{k}: {v * 1e3:7.3f} ms" for k, v in row.items() if k != "n"),
            flush=True,
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=[16, 32, 64, 128, 200, 400, 800, 1600]
    )
    args = parser.parse_args()
    print(describe_machine("cpu"))
    table = measure(args.lengths)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "streaming_cpu.csv", index=False)
    step_times = table["streaming step (hydra)"]
    for _, row in table.iterrows():
        print(
            f"n={int(row.n):<5} SASRec recompute / streaming = "
            f"{row['recompute SASRec'] / row['streaming step (hydra)']:6.1f}x   "
            f"hydra recompute / streaming = "
            f"{row['recompute hydra'] / row['streaming step (hydra)']:6.1f}x"
        )
    print(f"streaming step, max/min over n: {step_times.max() / step_times.min():.2f}x")


if __name__ == "__main__":
    main()
