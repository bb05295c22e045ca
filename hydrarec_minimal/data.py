"""Datasets for sequential recommendation: ``load_dataset("ml-100k") -> SequenceDataset``.

Every rating is an interaction, each user's sorted by ``TIE_BREAK``. Users are numbered
0..num_users-1, items 1..num_items in order of their original ids (0 = padding). Leave-one-out:
last item = test, second-to-last = validation; users with fewer than 3 are training data only.
If MovieLens cannot be loaded, ``load_dataset`` falls back to ``synthetic`` loudly (banner,
``SyntheticDataWarning``, ``fallback_reason``) unless ``allow_synthetic=False`` or
``HYDRAREC_STRICT_DATA=1``.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from hydrarec_minimal.batches import PAD, Stage, mask_token_for
from hydrarec_minimal.errors import DataError, UnknownDatasetError, UserError
from hydrarec_minimal.movielens import (
    REGISTRY,
    DatasetSpec,
    InteractionData,
    get_spec,
    load_movielens,
)
from hydrarec_minimal.settings import strict_data
from hydrarec_minimal.synthetic import make_synthetic

SYNTHETIC = "synthetic"
DATASETS = (*REGISTRY, SYNTHETIC)
TIE_BREAK = "timestamp (ties: original item id)"

PROTOCOL = (
    f"Implicit feedback, each user's interactions sorted by {TIE_BREAK}; leave-one-out (last "
    "item = test, second-to-last = validation); full ranking of the target against all items, "
    "the user's history items excluded; HR/NDCG/MRR at k = 1, 5, 10, 20; ties ranked "
    "pessimistically."
)
REQUIRED_COLUMNS = ("user_id", "item_id", "timestamp")


class SyntheticDataWarning(UserWarning):
    """MovieLens could not be loaded: the synthetic stand-in is used instead."""


class _Counts:
    """Counts of per-user item arrays (the field named ``_per_user``) and ``item_ids``."""

    _per_user = "sequences"

    @property
    def num_users(self) -> int:
        return len(getattr(self, self._per_user))

    @property
    def num_items(self) -> int:
        return len(self.item_ids) - 1

    @property
    def num_interactions(self) -> int:
        return int(sum(len(s) for s in getattr(self, self._per_user)))


@dataclass(frozen=True, eq=False)
class UserSequences(_Counts):
    """Per user ``items[u]``, ``timestamps[u]`` (int64, oldest first); ``user_ids``,
    ``item_ids`` ([0] = padding): original ids."""

    items: list[np.ndarray]
    timestamps: list[np.ndarray]
    user_ids: np.ndarray
    item_ids: np.ndarray

    _per_user = "items"


def build_sequences(
    interactions: pd.DataFrame, *, min_interactions: int = 0, max_users: int | None = None
) -> UserSequences:
    """Sort, filter (``min_interactions``, then the first ``max_users``) and re-index a table
    of ``user_id``, ``item_id``, ``timestamp``. ``UserError`` if no user is left."""

    if min_interactions < 0:
        raise ValueError(f"min_interactions must be >= 0, got {min_interactions}")
    users = interactions["user_id"].to_numpy()
    items = interactions["item_id"].to_numpy()
    times = interactions["timestamp"].to_numpy(dtype=np.int64)
    user_ids, user_index, counts = np.unique(users, return_inverse=True, return_counts=True)
    keep_user = counts >= min_interactions
    if max_users is not None:
        keep_user &= np.cumsum(keep_user) <= max_users
    if not keep_user.all():
        keep = keep_user[user_index]
        users, items, times = users[keep], items[keep], times[keep]
        user_ids, user_index, counts = np.unique(users, return_inverse=True, return_counts=True)
    if len(users) == 0:
        raise UserError(
            f"no interactions left: no user has at least {min_interactions} interactions "
            f"(lower min_interactions)"
        )
    original_items, item_index = np.unique(items, return_inverse=True)  # sorted: rank = new id
    order = np.lexsort((item_index, times, user_index))  # last key first: user, time, item id
    boundaries = np.cumsum(counts)[:-1]
    item_ids = np.empty(len(original_items) + 1, original_items.dtype)
    item_ids[0], item_ids[1:] = PAD, original_items
    return UserSequences(
        items=np.split(item_index.astype(np.int64)[order] + 1, boundaries),
        timestamps=np.split(times[order], boundaries),
        user_ids=user_ids,
        item_ids=item_ids.astype(np.int64) if item_ids.dtype.kind in "iu" else item_ids,
    )


@dataclass(frozen=True, eq=False)
class LeaveOneOutSplit:
    """``train[u]``: training items; ``valid_target``, ``test_target`` (num_users,): held-out
    items, 0 for users not evaluated."""

    train: list[np.ndarray]
    valid_target: np.ndarray
    test_target: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.train)

    @property
    def eval_users(self) -> np.ndarray:
        return np.flatnonzero(self.test_target)

    def history(self, user: int, stage: Stage) -> np.ndarray:
        """Training items ("valid"), then the validation item ("test")."""
        if stage == "valid":
            return self.train[user]
        if stage == "test":
            return np.append(self.train[user], self.valid_target[user])
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")

    def target(self, user: int, stage: Stage) -> int:
        return int((self.valid_target if stage == "valid" else self.test_target)[user])


def leave_one_out(sequences: list[np.ndarray]) -> LeaveOneOutSplit:
    """Last item = test, second-to-last = validation, the rest = training."""
    train, valid, test = [], np.zeros(len(sequences), np.int64), np.zeros(len(sequences), np.int64)
    for user, items in enumerate(sequences):
        if len(items) >= 3:
            train.append(items[:-2])
            valid[user], test[user] = items[-2], items[-1]
        else:
            train.append(items)
    return LeaveOneOutSplit(train=train, valid_target=valid, test_target=test)


def item_popularity(sequences: list[np.ndarray], num_items: int) -> np.ndarray:
    """How often each item occurs in ``sequences``: (num_items + 1,), [0] = 0."""
    items = np.concatenate([np.zeros(0, np.int64), *sequences])
    counts = np.bincount(items, minlength=num_items + 1).astype(np.int64)
    counts[PAD] = 0
    return counts


@dataclass(frozen=True, eq=False)
class SequenceDataset(_Counts):
    """A dataset ready for sequential recommendation (``UserSequences`` plus the split).

    ``titles``, ``years``, ``genres``, ``popularity`` (training counts): by item id, [0] =
    padding. ``source``: what was loaded (``"synthetic"`` after a fallback).
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

    @classmethod
    def from_interactions(
        cls,
        table: pd.DataFrame,
        *,
        name: str = "my-data",
        items: pd.DataFrame | None = None,
        min_interactions: int = 0,
        max_users: int | None = None,
        location: str = "a table in memory",
    ) -> SequenceDataset:
        """From any table with ``user_id``, ``item_id``, numeric ``timestamp`` columns, and
        optional ``items`` metadata (``item_id`` and any of ``title``, ``year``, ``genres``).
        ``ValueError`` for a missing column, an empty table or non-numeric timestamps."""
        missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(
                f"the table has no column {', '.join(missing)}: it needs "
                f"{', '.join(REQUIRED_COLUMNS)} (found: {', '.join(map(str, table.columns))})"
            )
        if table.empty:
            raise ValueError("the table is empty: it needs one row per interaction")
        stamps = table["timestamp"]
        if not pd.api.types.is_numeric_dtype(stamps) or pd.api.types.is_bool_dtype(stamps):
            raise ValueError(
                f"timestamps must be numbers (e.g. unix seconds), got {stamps.dtype}; convert "
                f"datetimes with table['timestamp'].astype('int64') // 10**9"
            )
        if stamps.isna().any():
            raise ValueError("some timestamps are missing (NaN)")
        sequences = build_sequences(table, min_interactions=min_interactions, max_users=max_users)
        split = leave_one_out(sequences.items)
        ids = sequences.item_ids[1:]
        metadata = pd.DataFrame(index=ids) if items is None else items.set_index("item_id")
        metadata = metadata.reindex(ids)
        titles = metadata.get("title", pd.Series(index=ids, dtype=object))
        titles = [str(i) if pd.isna(t) else str(t) for i, t in zip(ids, titles, strict=True)]
        years = metadata.get("year", pd.Series(0, index=ids)).fillna(0).to_numpy(np.int64)
        genres = metadata.get("genres", pd.Series(index=ids, dtype=object))
        return cls(
            name=name,
            source=name,
            location=location,
            fallback_reason=None,
            sequences=sequences.items,
            timestamps=sequences.timestamps,
            user_ids=sequences.user_ids,
            item_ids=sequences.item_ids,
            split=split,
            titles=["[padding]", *titles],
            years=np.concatenate([[0], years]).astype(np.int64),
            genres=[(), *(g if isinstance(g, tuple) else () for g in genres)],
            popularity=item_popularity(split.train, sequences.num_items),
            min_interactions=min_interactions,
        )

    @property
    def is_synthetic(self) -> bool:
        return self.source == SYNTHETIC

    @property
    def mask_token(self) -> int:
        return mask_token_for(self.num_items)

    @property
    def vocab_size(self) -> int:
        return self.mask_token + 1

    @property
    def time_span(self) -> tuple[datetime, datetime]:
        """First and last interaction (UTC)."""
        times = [t for t in self.timestamps if len(t)]
        first, last = min(int(t[0]) for t in times), max(int(t[-1]) for t in times)
        utc = timezone.utc
        return datetime.fromtimestamp(first, utc), datetime.fromtimestamp(last, utc)


def build_dataset(
    data: InteractionData,
    *,
    name: str | None = None,
    min_interactions: int = 0,
    max_users: int | None = None,
    fallback_reason: str | None = None,
) -> SequenceDataset:
    """``SequenceDataset.from_interactions`` for a loader's ``InteractionData``."""
    dataset = SequenceDataset.from_interactions(
        data.interactions,
        name=data.name,
        items=data.items,
        min_interactions=min_interactions,
        max_users=max_users,
        location=data.location,
    )
    return dataclasses.replace(dataset, name=name or data.name, fallback_reason=fallback_reason)


def _announce_fallback(name: str, reason: str) -> None:
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
    """Load one of ``DATASETS`` (the fallback: module docstring); ``UnknownDatasetError``."""
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
        _announce_fallback(spec.name, str(error))
        data = make_synthetic(seed=synthetic_seed)
        return build_dataset(data, name=spec.name, fallback_reason=str(error), **options)
    return build_dataset(data, **options)
