"""Benchmark: the cost of refreshing one user's recommendations after a new interaction.

    python benchmarks/bench_streaming.py [--lengths 16 32 64 128 200 400 800 1600] [--users 1 64]
                                         [--repeats 15] [--device cpu]
                                         [--eager-only | --no-autotune]

For a history of n items and one new item, three ways to get the new scores (d = 64, 2 layers,
1,682 items as in ML-100K, untrained weights: speed does not depend on them):

    (a) streaming causal HydraRec: ``streaming.step`` on the saved state   -- O(d) per layer
    (b) causal HydraRec recomputed over the whole history (``score_last``)  -- O(n·d)
    (c) SASRec (softmax attention) recomputed over the whole history       -- O(n²·d)

and, unless ``--eager-only``, (a) and (c) compiled (``fast.compiled.compile_step`` and
``compiled.CompiledInference`` of SASRec's ``score_last``, the same compiler settings for
both: compiling one side only would flatter it). Compiling takes most of the run's ten-odd
minutes on two CPU cores (the step once per batch size, SASRec once per length and batch
size); ``--eager-only`` (the only way off the CPU: compiled inference builds CPU programs
only, see ``compiled.py``) takes under two, ``--no-autotune`` compiles without inductor's
matrix-multiply autotuning (several times quicker to compile; see ``compiled.py``).

Each is measured for one user per call (the latency of serving one user) and for a batch of
users per call (a server collecting new interactions; the time is divided by the number of
users, so it is per new interaction), all three under ``torch.inference_mode`` as a server
would run them. Each point is the best of ``--repeats`` timed batches (15), the batches of
all lengths and all three ways taken in turns (``benchmark.time_calls``): on a shared machine
the noise comes in bursts of seconds, which then slow every way alike instead of a few points.
Writes ``benchmarks/results/streaming_<device>.csv`` and prints the time of each per new
interaction and the ratios (c)/(a) and (b)/(a), eager and compiled. Target:
(c)/(a) >= 20 at n = 200, and (a) flat in n.

The script restarts itself once with glibc ``malloc`` told to keep freed memory
(``benchmark.steady_allocator``): otherwise page faults on freshly returned memory add noise
of the same size as the differences measured. The machine line it prints says "steady malloc".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from hydrarec_minimal.course.benchmark import describe_machine, steady_allocator
from hydrarec_minimal.course.scaling import build_model, streaming_costs

RESULTS = Path(__file__).resolve().parent / "results"


def measure(
    lengths: list[int],
    users: int,
    repeats: int,
    device: torch.device,
    compiled: bool,
    autotune: bool,
) -> pd.DataFrame:
    longest = max(lengths) + 1
    hydra = build_model("hydra", longest).to(device)
    sasrec = build_model("softmax", longest).to(device)
    if compiled:
        print(f"users={users}: compiling the step and SASRec at {len(lengths)} lengths ...")
    table = streaming_costs(
        hydra, sasrec, lengths, users=users, repeats=repeats, compiled=compiled, autotune=autotune
    )
    for _, row in table.iterrows():
        times = row.drop(["n", "users"])
        print(
            f"users={users:<4} n={int(row.n):<5} "
            + "  ".join(f"{k}: {v * 1e3:7.3f} ms" for k, v in times.items()),
            flush=True,
        )
    return table


def main() -> None:
    steady_allocator()  # measure the kernels, not page faults (see its docstring)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=[16, 32, 64, 128, 200, 400, 800, 1600]
    )
    parser.add_argument("--users", type=int, nargs="+", default=[1, 64])
    parser.add_argument(
        "--repeats", type=int, default=15, help="timed batches per point, best kept (15)"
    )
    parser.add_argument("--device", default="cpu")
    ways = parser.add_mutually_exclusive_group()
    ways.add_argument("--eager-only", action="store_true", help="skip the compiled step and SASRec")
    ways.add_argument(
        "--no-autotune", action="store_true", help="compile without matrix-multiply autotuning"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    print(describe_machine(device))
    if device.type != "cpu" and not args.eager_only:
        print("compiled inference builds CPU programs only: measuring the eager ways")
        args.eager_only = True
    table = pd.concat(
        [
            measure(
                args.lengths,
                users,
                args.repeats,
                device,
                compiled=not args.eager_only,
                autotune=not args.no_autotune,
            )
            for users in args.users
        ],
        ignore_index=True,
    )
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / f"streaming_{device.type}.csv", index=False)
    for users, rows in table.groupby("users"):
        print(f"\n{users} user(s) per call: ratios of the times per new interaction")
        print(ratios(rows).round(1).to_string(index=False))
        for way in [column for column in rows if column.startswith("streaming step")]:
            print(f"  {way}: slowest / fastest over n = {rows[way].max() / rows[way].min():.2f}x")


def ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """Recompute / streaming step for one number of users: one row per n."""
    step, fast_step = rows["streaming step (hydra)"], rows.get("streaming step (hydra, compiled)")
    table = pd.DataFrame({"n": rows.n})
    table["hydra recompute / step"] = rows["recompute hydra"] / step
    table["SASRec / step"] = rows["recompute SASRec"] / step
    if fast_step is not None:
        table["SASRec / compiled step"] = rows["recompute SASRec"] / fast_step
        table["compiled SASRec / compiled step"] = rows["recompute SASRec (compiled)"] / fast_step
    return table


if __name__ == "__main__":
    main()
