"""Sampled ranking, as older papers measured: the target against 100 seeded negatives.

Only for a labelled comparison with those papers (notebook 04 shows how it flatters a model);
every metric of the course ranks against all items (``train.evaluation_ranks``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from hydrarec_minimal.batches import EvalBatch
from hydrarec_minimal.metrics import target_ranks

SAMPLED_NEGATIVES = 100


def sample_negatives(
    history: Tensor,
    targets: Tensor,
    num_items: int,
    num_negatives: int = SAMPLED_NEGATIVES,
    popularity: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Long ``(batch, num_negatives)`` item ids drawn without replacement, never padding, a
    ``history`` item or the target; uniform, or weighted by ``popularity`` ``(num_items + 1,)``.
    ``ValueError`` if some user has too few candidates."""
    weights = torch.ones(num_items + 1) if popularity is None else popularity
    weights = weights.double().expand(len(targets), -1).clone()
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


@torch.no_grad()
def sampled_ranks(
    score_fn: Callable[[Tensor], Tensor],
    batches: Iterable[EvalBatch],
    num_items: int,
    popularity: Tensor | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    num_negatives: int = SAMPLED_NEGATIVES,
) -> Tensor:
    """Long ``(users,)``: each evaluated user's 0-based rank among its target and
    ``num_negatives`` negatives drawn (one generator seeded with ``seed``) from the items
    outside the input history: uniformly, or in proportion to ``popularity`` counts."""
    generator = torch.Generator().manual_seed(seed)
    ranks = []
    for batch in batches:
        scores = score_fn(batch.inputs.to(device)).float().cpu()
        negatives = sample_negatives(
            batch.exclude, batch.targets, num_items, num_negatives, popularity, generator
        )
        ranks.append(sampled_ranking_ranks(scores, batch.targets, negatives))
    return torch.cat(ranks)
