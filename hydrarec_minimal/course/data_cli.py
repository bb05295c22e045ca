"""``python -m hydrarec_minimal data DATASET [--json]``: find, verify and describe a dataset.

The first thing to run: it finds the dataset (``HYDRAREC_DATA``, then the cache, then a
download from GroupLens or a mirror in ``HYDRAREC_MIRRORS``), verifies it (checksum, known
counts), builds the leave-one-out split and prints users, items, interactions, time span and
where the files were found. ``--json`` prints the same as JSON (keys ``num_users``,
``num_items``, ``num_interactions``, ...).

It never falls back to synthetic data (ask for ``synthetic`` by name to see the stand-in): if
the dataset cannot be loaded, it prints one line saying why and what to do, and exits with 1.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from hydrarec_minimal.data import DATASETS, PROTOCOL, TIE_BREAK, SequenceDataset, load_dataset


def dataset_summary(dataset: SequenceDataset) -> dict[str, Any]:
    """A JSON-ready description of ``dataset`` (results embed it)."""
    first, last = dataset.time_span
    return {
        "name": dataset.name,
        "source": dataset.source,
        "is_synthetic": dataset.is_synthetic,
        "fallback_reason": dataset.fallback_reason,
        "location": dataset.location,
        "num_users": dataset.num_users,
        "num_items": dataset.num_items,
        "num_interactions": dataset.num_interactions,
        "num_eval_users": len(dataset.split.eval_users),
        "min_interactions": dataset.min_interactions,
        "first_interaction": first.isoformat(),
        "last_interaction": last.isoformat(),
        "tie_break": TIE_BREAK,
        "protocol": PROTOCOL,
    }


def run(args: argparse.Namespace) -> int:
    """Load ``args.dataset`` without fallback and print its summary."""
    dataset = load_dataset(
        args.dataset, min_interactions=args.min_interactions, allow_synthetic=False
    )
    summary = dataset_summary(dataset)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    first, last = dataset.time_span
    days = (last - first).total_seconds() / 86_400
    print(f"{dataset.name}: {summary['location']}")
    print(f"  users           {dataset.num_users:>12,}")
    print(f"  items           {dataset.num_items:>12,}")
    print(f"  interactions    {dataset.num_interactions:>12,}")
    print(f"  evaluated users {summary['num_eval_users']:>12,}")
    print(f"  time span       {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC", end="")
    print(f" ({days:,.0f} days)")
    if args.min_interactions:
        print(f"  filter          users with at least {args.min_interactions} interactions")
    print(f"Protocol: {PROTOCOL}")
    return 0


HELP = "find or download a dataset, verify it and print a summary"
"""One line for ``python -m hydrarec_minimal --help``."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``data``."""
    parser.add_argument("dataset", metavar="DATASET", help=f"one of: {', '.join(DATASETS)}")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--min-interactions",
        type=int,
        default=0,
        metavar="N",
        help="drop users with fewer than N interactions (default: 0, keep all)",
    )
