"""The one entry point to data: ``load_dataset("ml-100k") -> SequenceDataset``.

>>> from hydrarec_minimal.data import load_dataset
>>> data = load_dataset("ml-100k")      # doctest: +SKIP
>>> data.num_users, data.num_items, data.num_interactions   # doctest: +SKIP
(943, 1682, 100000)

``load_dataset`` finds or downloads MovieLens (``hydrarec_minimal.datasets``), builds the
time-ordered sequences and the leave-one-out split (``hydrarec_minimal.sequences``), and
gathers what a model, a training loop and a notebook need in one small object.

If MovieLens cannot be found or downloaded, it falls back to the synthetic stand-in
(``hydrarec_minimal.synthetic``) *loudly*: a banner on stderr and a ``SyntheticDataWarning``;
``dataset.is_synthetic`` and ``dataset.fallback_reason`` record it, and ``summary()`` carries it
into every result. No fallback when ``allow_synthetic=False`` or ``HYDRAREC_STRICT_DATA=1`` (CI
sets it): then the error is raised.

Environment variables: ``HYDRAREC_DATA`` (where to look first, see ``datasets``),
``HYDRAREC_STRICT_DATA=1`` (never fall back), ``HYDRAREC_QUICK=1`` (``settings.quick_mode()``:
callers shrink their runs, e.g. ``load_dataset(..., max_users=200 if quick_mode() else None)``).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from hydrarec_minimal.datasets import (
    REGISTRY,
    DataError,
    DatasetSpec,
    InteractionData,
    UnknownDatasetError,
    get_spec,
    load_movielens,
)
from hydrarec_minimal.sequences import (
    TIE_BREAK,
    LeaveOneOutSplit,
    build_sequences,
    item_popularity,
    leave_one_out,
)
from hydrarec_minimal.settings import strict_data
from hydrarec_minimal.synthetic import make_synthetic

SYNTHETIC = "synthetic"
DATASETS = (*REGISTRY, SYNTHETIC)
"""Names ``load_dataset`` accepts."""

PROTOCOL = (
    "Implicit feedback (every rating is an interaction); each user's interactions sorted by "
    f"{TIE_BREAK}; leave-one-out: last item = test, second-to-last = validation, the rest = "
    "training; HR, NDCG and MRR rank the target against all items, excluding the items of the "
    "user's input history."
)
"""The evaluation protocol in one sentence (print it wherever a number is printed)."""


class SyntheticDataWarning(UserWarning):
    """MovieLens could not be loaded and the synthetic stand-in is used instead."""


@dataclass(frozen=True, eq=False)
class SequenceDataset:
    """A dataset ready for sequential recommendation.

    Ids: users are indices 0..num_users-1; items are 1..num_items (0 = padding, and
    ``num_items + 1`` = ``mask_token`` for cloze models, so embeddings need ``vocab_size`` =
    num_items + 2 rows). Arrays are numpy; every per-user array is int64, oldest first.

    Fields:
        name: what was asked for, e.g. ``"ml-100k"``.
        source: what was loaded: the same name, or ``"synthetic"`` after a fallback.
        location: where the files were found (path and how), or how the data was generated.
        fallback_reason: why the synthetic stand-in replaced ``name`` (None: no fallback).
        sequences: per user, shape (n_u,): all item ids in time order.
        timestamps: per user, shape (n_u,): unix seconds, matching ``sequences``.
        user_ids: shape (num_users,): original user ids.
        item_ids: shape (num_items + 1,): original item ids (index 0: padding, 0).
        split: the leave-one-out split (``split.train[u]``, ``split.valid_target``,
            ``split.test_target``, ``split.eval_users``, ``split.history(u, stage)``).
        titles: length num_items + 1: titles by item id (index 0: ``"[padding]"``).
        years: shape (num_items + 1,): release years (0 = unknown).
        genres: length num_items + 1: tuples of genre names.
        popularity: shape (num_items + 1,): how often each item occurs in the *training*
            part of the split (never validation/test items), index 0 = 0.
        min_interactions: the user filter that was applied (0 = none).
    """

    name: str
    source: str
    location: str
    fallback_reason: str | None
    sequences: list[np.ndarray]
    timestamps: list[np.ndarray]
    user_ids: np.ndarray
    item_ids: np.ndarray
    split: LeaveOneOutSplit
    titles: list[str]
    years: np.ndarray
    genres: list[tuple[str, ...]]
    popularity: np.ndarray
    min_interactions: int = 0

    @property
    def is_synthetic(self) -> bool:
        return self.source == SYNTHETIC

    @property
    def num_users(self) -> int:
        return len(self.sequences)

    @property
    def num_items(self) -> int:
        return len(self.item_ids) - 1

    @property
    def num_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    @property
    def mask_token(self) -> int:
        """The cloze mask id, ``num_items + 1``."""
        return self.num_items + 1

    @property
    def vocab_size(self) -> int:
        """Rows an item embedding needs: padding, the items, the mask token."""
        return self.num_items + 2

    @property
    def time_span(self) -> tuple[datetime, datetime]:
        """First and last interaction, as UTC datetimes."""
        first = min(int(t[0]) for t in self.timestamps if len(t))
        last = max(int(t[-1]) for t in self.timestamps if len(t))
        return (
            datetime.fromtimestamp(first, tz=timezone.utc),
            datetime.fromtimestamp(last, tz=timezone.utc),
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (the ``data`` command prints it; results embed it)."""
        first, last = self.time_span
        return {
            "name": self.name,
            "source": self.source,
            "is_synthetic": self.is_synthetic,
            "fallback_reason": self.fallback_reason,
            "location": self.location,
            "num_users": self.num_users,
            "num_items": self.num_items,
            "num_interactions": self.num_interactions,
            "num_eval_users": len(self.split.eval_users),
            "min_interactions": self.min_interactions,
            "first_interaction": first.isoformat(),
            "last_interaction": last.isoformat(),
            "tie_break": TIE_BREAK,
            "protocol": PROTOCOL,
        }


def build_dataset(
    data: InteractionData,
    *,
    name: str | None = None,
    min_interactions: int = 0,
    max_users: int | None = None,
    fallback_reason: str | None = None,
) -> SequenceDataset:
    """Turn any ``InteractionData`` (MovieLens, synthetic, your own) into a ``SequenceDataset``."""
    sequences = build_sequences(
        data.interactions, min_interactions=min_interactions, max_users=max_users
    )
    split = leave_one_out(sequences.items)
    metadata = data.items.set_index("item_id").reindex(sequences.item_ids[1:])
    titles = metadata["title"].fillna("").astype(str).tolist()
    years = metadata["year"].fillna(0).to_numpy(dtype=np.int64)
    genres = [g if isinstance(g, tuple) else () for g in metadata["genres"]]
    return SequenceDataset(
        name=name or data.name,
        source=data.name,
        location=data.location,
        fallback_reason=fallback_reason,
        sequences=sequences.items,
        timestamps=sequences.timestamps,
        user_ids=sequences.user_ids,
        item_ids=sequences.item_ids,
        split=split,
        titles=["[padding]", *titles],
        years=np.concatenate([[0], years]).astype(np.int64),
        genres=[(), *genres],
        popularity=item_popularity(split.train, sequences.num_items),
        min_interactions=min_interactions,
    )


def _announce_fallback(name: str, reason: str) -> None:
    """The loud part: a banner on stderr and a warning."""
    rule = "=" * 78
    print(
        f"\n{rule}\n"
        f"WARNING: USING SYNTHETIC DATA, NOT MOVIELENS.\n"
        f"{name} could not be loaded:\n  {reason}\n"
        f"Everything below runs on the small generated stand-in (hydrarec_minimal.synthetic):\n"
        f"the numbers are NOT {name} results, and every result records this.\n"
        f"To use {name}: connect to the internet, or download it and set HYDRAREC_DATA.\n"
        f"Set HYDRAREC_STRICT_DATA=1 to make this an error instead.\n"
        f"{rule}\n",
        file=sys.stderr,
        flush=True,
    )
    warnings.warn(
        f"using synthetic data instead of {name} ({reason}); results are not {name} results",
        SyntheticDataWarning,
        stacklevel=3,
    )


def load_dataset(
    name: str | DatasetSpec = "ml-100k",
    *,
    min_interactions: int = 0,
    max_users: int | None = None,
    allow_synthetic: bool = True,
    download: bool = True,
    synthetic_seed: int = 0,
) -> SequenceDataset:
    """Load a dataset by name (``DATASETS``: ``ml-100k``, ``ml-1m``, ``ml-20m``, ``synthetic``).

    ``min_interactions`` drops users with fewer interactions; ``max_users`` keeps the first ones
    (by original id) for quick runs. If MovieLens cannot be loaded (not found, download failed,
    damaged copy), the synthetic dataset (seed ``synthetic_seed``) takes its place, loudly,
    unless ``allow_synthetic`` is False or ``HYDRAREC_STRICT_DATA=1``. An unknown name is always
    an error.
    """
    options = {"min_interactions": min_interactions, "max_users": max_users}
    if name == SYNTHETIC:
        return build_dataset(make_synthetic(seed=synthetic_seed), **options)
    if isinstance(name, str) and name not in REGISTRY:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}"
        )
    spec = get_spec(name)
    try:
        data = load_movielens(spec, download=download)
    except DataError as error:
        if not allow_synthetic or strict_data():
            raise
        reason = str(error)
        _announce_fallback(spec.name, reason)
        data = make_synthetic(seed=synthetic_seed)
        return build_dataset(data, name=spec.name, fallback_reason=reason, **options)
    return build_dataset(data, **options)
