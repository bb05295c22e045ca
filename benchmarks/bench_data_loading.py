"""Benchmark: load and split an ML-1M-sized dataset (1,000,000 ratings in ML-1M format).

    python benchmarks/bench_data_loading.py [--ratings 1000000] [--repeats 3]

Generates ``ml-1m/ratings.dat`` (``UserID::MovieID::Rating::Timestamp``; 6,040 users, about
3,700 rated movies, long-tailed user activity, skewed popularity) and ``movies.dat`` in a
temporary folder, then, in a fresh process (so the memory figures are its own), times the path
``load_dataset`` takes: find the files through ``HYDRAREC_DATA``, parse and validate them
(counts included), build the time-ordered sequences, the leave-one-out split and the
popularity counts. Prints the best and median wall-clock seconds, the peak memory that
Python allocated during one load (tracemalloc; numpy and pandas buffers included) and the
process's peak resident set size (VmHWM / ru_maxrss; it includes the interpreter and imports).

Target: under 5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

NUM_USERS = 6_040
CATALOGUE = 3_952  # movie ids 1..3952 as in ML-1M


def generate(folder: Path, num_ratings: int, seed: int = 0) -> tuple[int, int]:
    """Write ``folder/ml-1m/{ratings,movies}.dat``; return (number of rated items, movies)."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, NUM_USERS)
    counts = 20 + np.floor(activity / activity.sum() * (num_ratings - 20 * NUM_USERS)).astype(int)
    counts[: num_ratings - counts.sum()] += 1  # exactly num_ratings in total
    users = np.repeat(np.arange(1, NUM_USERS + 1), counts)
    movie_ids = np.sort(rng.choice(CATALOGUE, size=3_883, replace=False) + 1)
    rated = movie_ids[rng.permutation(len(movie_ids))[:3_706]]
    weights = 1.0 / np.arange(1, len(rated) + 1) ** 0.9
    items = rng.choice(rated, size=num_ratings, p=weights / weights.sum())
    items[: len(rated)] = rated  # every one of them rated at least once
    frame = pd.DataFrame(
        {
            "user": users,
            "item": items,
            "rating": rng.integers(1, 6, num_ratings),
            "time": rng.integers(956_703_932, 1_046_454_590, num_ratings),
        }
    )
    target = folder / "ml-1m"
    target.mkdir(parents=True, exist_ok=True)
    text = frame.to_csv(sep="\t", header=False, index=False, lineterminator="\n")
    (target / "ratings.dat").write_bytes(text.replace("\t", "::").encode())
    movies = "".join(f"{i}::Movie {i} ({1919 + i % 81})::Drama|Comedy\n" for i in movie_ids)
    (target / "movies.dat").write_bytes(movies.encode("latin-1"))
    return len(rated), len(movie_ids)


def load_once(num_ratings: int, rated: int, movies: int) -> object:
    """What ``load_dataset("ml-1m")`` does, with the registry's counts replaced by ours."""
    from hydrarec_minimal.data import build_dataset
    from hydrarec_minimal.movielens import REGISTRY, ExpectedCounts, load_movielens

    spec = dataclasses.replace(
        REGISTRY["ml-1m"],
        expected=ExpectedCounts(num_ratings, NUM_USERS, rated, movies),
        file_sha256={},  # the generated movies.dat is not the official one
    )
    return build_dataset(load_movielens(spec, download=False))


def peak_rss_mib() -> float:
    """This process's peak resident set size: VmHWM on Linux (reset by exec, unlike ru_maxrss,
    which a child inherits from the parent it was forked from), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes / KiB


def child(args: argparse.Namespace) -> None:
    """Runs in a fresh process: time ``repeats`` loads, then trace one for memory."""
    import hydrarec_minimal.data  # noqa: F401  (imports are not part of the timing)

    baseline_rss = peak_rss_mib()
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        dataset = load_once(args.ratings, args.rated, args.movies)
        seconds.append(time.perf_counter() - start)
        del dataset
    tracemalloc.start()
    dataset = load_once(args.ratings, args.rated, args.movies)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = peak_rss_mib()
    print(
        f"loaded {dataset.num_interactions:,} interactions, {dataset.num_users:,} users, "
        f"{dataset.num_items:,} items ({len(dataset.split.eval_users):,} evaluated users)"
    )
    print(f"  load + split, best of {args.repeats}:  {min(seconds):.2f} s")
    print(f"  load + split, median:      {statistics.median(seconds):.2f} s")
    print(f"  peak traced memory (one load, tracemalloc): {peak / 2**20:.0f} MiB")
    print(
        f"  peak resident set size of the process: {peak_rss:.0f} MiB "
        f"(after imports: {baseline_rss:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--rated", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--movies", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        rated, movies = generate(Path(folder), args.ratings)
        size = (Path(folder) / "ml-1m" / "ratings.dat").stat().st_size
        print(
            f"generated ratings.dat: {args.ratings:,} ratings, {NUM_USERS:,} users, {rated:,} "
            f"items, {size / 2**20:.1f} MiB in {time.perf_counter() - start:.1f} s"
        )
        env = {**os.environ, "HYDRAREC_DATA": folder, "XDG_CACHE_HOME": folder}
        command = [sys.executable, __file__, "--child", folder, "--ratings", str(args.ratings)]
        command += ["--repeats", str(args.repeats), "--rated", str(rated), "--movies", str(movies)]
        subprocess.run(command, env=env, check=True)


if __name__ == "__main__":
    main()
