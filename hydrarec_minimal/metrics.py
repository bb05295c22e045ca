"""Ranking metrics for next-item recommendation, on whole batches.

Full ranking: the target against all items, the user's history removed (never the target
itself; padding never ranked). With 0-based ``rank``: HR@k = [rank < k], NDCG@k =
1/log2(rank + 2), MRR@k = 1/(rank + 1) when rank < k, else 0. Ties count against the target
(a constant model gets the worst rank). Sampled ranking (older papers only): the target
against ``SAMPLED_NEGATIVES`` seeded negatives, uniform or by popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

#: The cut-offs reported everywhere.
CUTOFFS = (1, 5, 10, 20)

#: Negatives per user in sampled ranking (the number older papers use).
SAMPLED_NEGATIVES = 100


def exclude_history(scores: Tensor, history: Tensor, targets: Tensor) -> Tensor:
    """A copy of ``scores`` ``(batch, num_items + 1)`` with the ``history`` items (long
    ``(batch, h)``, 0 = padding) and column 0 at ``-inf``, except each row's ``targets`` item."""
    excluded = torch.zeros_like(scores, dtype=torch.bool)
    excluded.scatter_(1, history, True)
    excluded[:, 0] = True
    excluded.scatter_(1, targets[:, None], False)
    return scores.masked_fill(excluded, float("-inf"))


def target_ranks(scores: Tensor, targets: Tensor) -> Tensor:
    """Long ``(batch,)``: how many other columns of ``scores`` ``(batch, c)`` score at least
    as high as the column ``targets`` ``(batch,)`` (a 0-based rank, ties against the target)."""
    target_scores = scores.gather(1, targets[:, None])  # (batch, 1)
    return (scores >= target_scores).sum(dim=1) - 1


def metrics_from_ranks(ranks: Tensor, cutoffs: tuple[int, ...] = CUTOFFS) -> dict[str, float]:
    """``{"HR@10": ..., "NDCG@10": ..., "MRR@10": ..., ...}``: means over the 0-based ``ranks``
    ``(num_users,)``, as Python floats. ``ValueError`` for no users."""
    if ranks.numel() == 0:
        raise ValueError("cannot compute metrics for zero users")
    ranks = ranks.cpu().numpy()
    return {
        metric: float(per_user_metric(ranks, metric).mean())
        for k in cutoffs
        for metric in (f"HR@{k}", f"NDCG@{k}", f"MRR@{k}")
    }


def full_ranking_ranks(scores: Tensor, history: Tensor, targets: Tensor) -> Tensor:
    """Ranks ``(batch,)`` of the targets among all items, history removed (``exclude_history``)."""
    return target_ranks(exclude_history(scores, history, targets), targets)


def sample_negatives(
    history: Tensor,
    targets: Tensor,
    num_items: int,
    num_negatives: int = SAMPLED_NEGATIVES,
    popularity: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Long ``(batch, num_negatives)`` item ids drawn without replacement, never padding, a
    ``history`` item (``(batch, h)``) or the target; uniform, or weighted by ``popularity``
    ``(num_items + 1,)``. ``ValueError`` if some user has too few candidates."""
    weights = torch.ones(num_items + 1) if popularity is None else popularity
    weights = weights.double().expand(len(targets), -1).clone()  # (batch, num_items + 1)

    weights[:, 0] = 0
    weights.scatter_(1, history.cpu(), 0.0)
    weights.scatter_(1, targets.cpu()[:, None], 0.0)
    available = (weights > 0).sum(dim=1).min().item()
    if available < num_negatives:
        raise ValueError(
            f"only {available} candidate negatives for some user; asked for {num_negatives}"
        )
    return torch.multinomial(weights, num_negatives, replacement=False, generator=generator)


def sampled_ranking_ranks(scores: Tensor, targets: Tensor, negatives: Tensor) -> Tensor:
    """Ranks ``(batch,)``, in 0..m, of the targets among their ``negatives`` ``(batch, m)``."""
    candidates = torch.cat([targets[:, None], negatives.to(targets.device)], dim=1)
    return target_ranks(scores.gather(1, candidates), torch.zeros_like(targets))


def per_user_metric(ranks: np.ndarray, metric: str = "NDCG@10") -> np.ndarray:
    """Each user's value of ``metric`` ("HR@k", "NDCG@k" or "MRR@k") from 0-based ``ranks``
    (any shape; same shape out, float64): [rank < k], 1/log2(rank + 2) or 1/(rank + 1) if
    rank < k, else 0. ``ValueError`` for another name or a negative rank."""
    name, _, k = metric.partition("@")
    if name not in ("HR", "NDCG", "MRR") or not k.isdigit():
        raise ValueError(f"metric must be HR@k, NDCG@k or MRR@k; got {metric!r}")
    ranks = np.asarray(ranks, dtype=np.float64)
    if (ranks < 0).any():
        raise ValueError("ranks are 0-based: none can be negative")
    gain = {"HR": np.ones_like(ranks), "NDCG": 1 / np.log2(ranks + 2), "MRR": 1 / (ranks + 1)}
    return np.where(ranks < int(k), gain[name], 0.0)


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
