"""From a ratings table to per-user sequences and the leave-one-out split.

Implicit feedback: every rating is an interaction, whatever its value.

Decisions (they are part of the evaluation protocol, so they are fixed and tested):

- **Order**: each user's interactions are sorted by timestamp; ties (MovieLens users often rate
  several movies in the same second) are broken by the *original* item id, ascending. The sort
  is therefore deterministic and does not depend on the order of lines in the file.
- **Item ids**: items are re-indexed 1..num_items in increasing order of their original id
  (only items that occur after filtering get an id); 0 is the padding id. For ML-100K, whose
  1,682 items are all rated, the new id equals the original id.
- **User index**: users are numbered 0..num_users-1 in increasing order of their original id.
- **Filter** (optional): ``min_interactions`` drops users with fewer interactions, before
  re-indexing (items seen only by dropped users disappear).
- **Leave-one-out**: the last interaction is the test target, the second-to-last the
  validation target, the rest is training. Validation ranks with the training items as input
  history; test ranks with training + validation items.
- **Short users** (fewer than 3 interactions, possible only with your own data or
  ``min_interactions`` < 3): they are kept, all their interactions are training data, and they
  are not evaluated (their targets are 0 and they are left out of ``eval_users``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from hydrarec_minimal.errors import UserError

PAD = 0
"""Item id 0 is padding; real items are 1..num_items."""

TIE_BREAK = "timestamp, then original item id (ascending)"
"""How interactions of one user are ordered (documented in results)."""

Stage = Literal["valid", "test"]


@dataclass(frozen=True, eq=False)
class UserSequences:
    """Every user's interactions in time order, with re-indexed item ids.

    ``items[u]``: shape (n_u,), int64, ids in 1..num_items, oldest first.
    ``timestamps[u]``: shape (n_u,), int64 unix seconds, non-decreasing.
    ``user_ids``: shape (num_users,), the original id of user index u.
    ``item_ids``: shape (num_items + 1,), the original id of item i (``item_ids[0]`` = 0: padding).
    """

    items: list[np.ndarray]
    timestamps: list[np.ndarray]
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.items)

    @property
    def num_items(self) -> int:
        return len(self.item_ids) - 1

    @property
    def num_interactions(self) -> int:
        return int(sum(len(s) for s in self.items))


def build_sequences(
    interactions: pd.DataFrame, *, min_interactions: int = 0, max_users: int | None = None
) -> UserSequences:
    """Sort, filter and re-index a ratings table (columns ``user_id``, ``item_id``,
    ``timestamp``; see the module docstring for every rule).

    ``max_users`` keeps only the first users (by original id) after filtering: a smaller,
    deterministic dataset for quick runs.
    """
    if min_interactions < 0:
        raise ValueError(f"min_interactions must be >= 0, got {min_interactions}")
    users = interactions["user_id"].to_numpy(dtype=np.int64)
    items = interactions["item_id"].to_numpy(dtype=np.int64)
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

    # Items: unique() sorts, so new id = rank of the original id, plus one (0 is padding).
    original_items, item_index = np.unique(items, return_inverse=True)
    new_items = item_index.astype(np.int64) + 1

    # Sort by user, then timestamp, then original item id (np.lexsort: last key is primary).
    order = np.lexsort((items, times, user_index))
    boundaries = np.cumsum(counts)[:-1]
    return UserSequences(
        items=np.split(new_items[order], boundaries),
        timestamps=np.split(times[order], boundaries),
        user_ids=user_ids,
        item_ids=np.concatenate([[PAD], original_items]).astype(np.int64),
    )


@dataclass(frozen=True, eq=False)
class LeaveOneOutSplit:
    """The leave-one-out split of every user's sequence.

    ``train[u]``: shape (n_u - 2,) for evaluated users, (n_u,) for short users: the training
    items, oldest first. ``valid_target``, ``test_target``: shape (num_users,), int64, the
    held-out item ids, 0 for users that are not evaluated (fewer than 3 interactions).
    """

    train: list[np.ndarray]
    valid_target: np.ndarray
    test_target: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.train)

    @property
    def eval_users(self) -> np.ndarray:
        """Shape (num_eval_users,): indices of the users with validation and test targets."""
        return np.flatnonzero(self.test_target)

    def history(self, user: int, stage: Stage) -> np.ndarray:
        """The input history for ranking: training items ("valid"), plus the validation item
        ("test"). Shape (n,), oldest first."""
        if stage == "valid":
            return self.train[user]
        if stage == "test":
            return np.append(self.train[user], self.valid_target[user])
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")

    def target(self, user: int, stage: Stage) -> int:
        """The held-out item of ``user`` for ``stage`` (0: user not evaluated)."""
        return int((self.valid_target if stage == "valid" else self.test_target)[user])


def leave_one_out(sequences: list[np.ndarray]) -> LeaveOneOutSplit:
    """Last item = test, second-to-last = validation, the rest = training (short users: all
    training, no targets)."""
    train, valid, test = [], np.zeros(len(sequences), np.int64), np.zeros(len(sequences), np.int64)
    for user, items in enumerate(sequences):
        if len(items) >= 3:
            train.append(items[:-2])
            valid[user], test[user] = items[-2], items[-1]
        else:
            train.append(items)
    return LeaveOneOutSplit(train=train, valid_target=valid, test_target=test)


def item_popularity(sequences: list[np.ndarray], num_items: int) -> np.ndarray:
    """How often each item occurs in ``sequences``: shape (num_items + 1,), index 0 = 0."""
    if not sequences:
        return np.zeros(num_items + 1, np.int64)
    counts = np.bincount(np.concatenate(sequences), minlength=num_items + 1).astype(np.int64)
    counts[PAD] = 0
    return counts
