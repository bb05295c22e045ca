"""Is model A better than model B? A paired bootstrap over users and seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hydrarec_minimal.metrics import per_user_metric


@dataclass(frozen=True)
class PairedDifference:
    """Mean of model A minus model B over users and seeds, with a bootstrap interval."""

    mean: float
    low: float
    high: float
    metric: str
    confidence: float

    @property
    def verdict(self) -> str:
        """ "better" / "worse" when the interval excludes 0, else "level" (A relative to B)."""
        return "better" if self.low > 0 else "worse" if self.high < 0 else "level"


def paired_bootstrap(
    ranks_a: np.ndarray,
    ranks_b: np.ndarray,
    metric: str = "NDCG@10",
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Difference in ``metric`` of A minus B, with a paired bootstrap interval.

    ``ranks_a`` ``(seeds_a, users)``, ``ranks_b`` ``(seeds_b, users)``: 0-based test ranks of
    the same users (same order) in each run. Each resample draws users with replacement (the
    same users for A and B: the pairing) and, independently for each model, its runs with
    replacement; the interval is the percentile interval of the resampled differences.
    ``ValueError`` if the user counts differ.
    """
    a, b = (np.atleast_2d(per_user_metric(r, metric)) for r in (ranks_a, ranks_b))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the runs rank different users: {a.shape[1]} vs {b.shape[1]}")
    generator = np.random.default_rng(seed)
    users = a.shape[1]
    differences = np.empty(resamples)
    for r in range(resamples):
        chosen = generator.integers(users, size=users)
        runs_a = generator.integers(len(a), size=len(a))
        runs_b = generator.integers(len(b), size=len(b))
        differences[r] = a[runs_a][:, chosen].mean() - b[runs_b][:, chosen].mean()
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return PairedDifference(float(a.mean() - b.mean()), float(low), float(high), metric, confidence)
