"""Sequences and the leave-one-out split: order, tie-break, re-indexing, filters, short users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydrarec_minimal.course.data_cli import dataset_summary
from hydrarec_minimal.data import (
    SequenceDataset,
    build_dataset,
    build_sequences,
    item_popularity,
    leave_one_out,
)
from hydrarec_minimal.errors import UserError
from hydrarec_minimal.movielens import InteractionData


def table(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    """(user, item, timestamp) rows as a ratings table."""
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    frame.insert(2, "rating", np.float32(4))
    return frame


# user 5: items 30, 10, 20 at times 3, 1, 1 (10 and 20 tie); user 2: 3 items; user 7: 1 item.
ROWS = [
    (5, 30, 3), (5, 20, 1), (5, 10, 1), (5, 40, 4),
    (2, 40, 9), (2, 30, 8), (2, 20, 7),
    (7, 50, 5),
]  # fmt: skip


def originals(sequences, user: int) -> list[int]:
    return sequences.item_ids[sequences.items[user]].tolist()


def test_time_order_and_tie_break_by_original_item_id() -> None:
    sequences = build_sequences(table(ROWS))
    assert sequences.user_ids.tolist() == [2, 5, 7]  # user index: ascending original id
    assert originals(sequences, 1) == [10, 20, 30, 40]  # 10 and 20 tie at t=1: 10 first
    assert sequences.timestamps[1].tolist() == [1, 1, 3, 4]
    assert originals(sequences, 0) == [20, 30, 40]


def test_order_does_not_depend_on_the_order_of_lines() -> None:
    first = build_sequences(table(ROWS))
    shuffled = build_sequences(table(ROWS).sample(frac=1.0, random_state=3))
    for a, b in zip(first.items, shuffled.items, strict=True):
        assert a.tolist() == b.tolist()


def test_items_reindexed_by_ascending_original_id_from_one() -> None:
    sequences = build_sequences(table(ROWS))
    assert sequences.item_ids.tolist() == [0, 10, 20, 30, 40, 50]  # index 0: padding
    assert sequences.num_items == 5 and sequences.num_users == 3
    assert sequences.num_interactions == len(ROWS)
    assert all(s.dtype == np.int64 and s.min() >= 1 for s in sequences.items)


def test_min_interactions_drops_users_before_reindexing() -> None:
    sequences = build_sequences(table(ROWS), min_interactions=4)
    assert sequences.user_ids.tolist() == [5]
    assert sequences.item_ids.tolist() == [0, 10, 20, 30, 40]  # item 50 is gone with user 7
    with pytest.raises(UserError, match="no user has at least 9 interactions"):
        build_sequences(table(ROWS), min_interactions=9)


def test_max_users_keeps_the_first_users() -> None:
    sequences = build_sequences(table(ROWS), max_users=2)
    assert sequences.user_ids.tolist() == [2, 5]


def test_leave_one_out() -> None:
    sequences = [np.array([4, 1, 3, 2]), np.array([5, 6, 7])]
    split = leave_one_out(sequences)
    assert split.train[0].tolist() == [4, 1] and split.train[1].tolist() == [5]
    assert split.valid_target.tolist() == [3, 6] and split.test_target.tolist() == [2, 7]
    assert split.history(0, "valid").tolist() == [4, 1]
    assert split.history(0, "test").tolist() == [4, 1, 3]
    assert split.target(1, "valid") == 6 and split.target(1, "test") == 7
    assert split.eval_users.tolist() == [0, 1]


def test_short_users_are_training_only() -> None:
    """Users with fewer than 3 interactions: kept, all training, never evaluated."""
    sequences = [np.array([1]), np.array([2, 3]), np.array([4, 5, 6])]
    split = leave_one_out(sequences)
    assert [t.tolist() for t in split.train] == [[1], [2, 3], [4]]
    assert split.valid_target.tolist() == [0, 0, 5]
    assert split.test_target.tolist() == [0, 0, 6]
    assert split.eval_users.tolist() == [2]


def test_popularity_counts_training_items_only() -> None:
    split = leave_one_out([np.array([1, 2, 3, 4]), np.array([2, 2, 1])])
    assert item_popularity(split.train, 4).tolist() == [0, 1, 2, 0, 0]  # [1, 2] and [2]


def test_dataset_aligns_metadata_with_new_ids() -> None:
    items = pd.DataFrame(
        {
            "item_id": [50, 40, 30, 20, 10, 60],
            "title": ["E (1950)", "D", "C", "B", "A", "unused"],
            "year": [1950, 0, 0, 0, 0, 0],
            "genres": [("Drama",), (), (), (), ("Comedy",), ()],
        }
    )
    data = InteractionData("toy", table(ROWS), items, "memory")
    dataset = build_dataset(data)
    assert dataset.titles == ["[padding]", "A", "B", "C", "D", "E (1950)"]
    assert dataset.years.tolist() == [0, 0, 0, 0, 0, 1950]
    assert dataset.genres[1] == ("Comedy",) and dataset.genres[5] == ("Drama",)
    assert dataset.mask_token == 6 and dataset.vocab_size == 7
    # Training part only: user 5 trains on 10, 20; user 2 on 20; user 7 (short) on 50.
    assert dataset.popularity.tolist() == [0, 1, 2, 0, 0, 1]
    assert dataset_summary(dataset)["num_eval_users"] == 2


# --- bring your own data: SequenceDataset.from_interactions -----------------------------------


def test_from_interactions_builds_the_same_dataset_as_a_loader() -> None:
    frame = table(ROWS)
    own = SequenceDataset.from_interactions(frame, name="mine", min_interactions=2)
    loaded = build_dataset(
        InteractionData("mine", frame, pd.DataFrame(columns=["item_id"]), "here"),
        min_interactions=2,
    )
    assert own.name == own.source == "mine" and not own.is_synthetic
    assert [s.tolist() for s in own.sequences] == [s.tolist() for s in loaded.sequences]
    assert own.split.test_target.tolist() == loaded.split.test_target.tolist()
    # Without metadata, titles are the original item ids as text.
    assert own.titles == ["[padding]", *(str(i) for i in own.item_ids[1:])]
    assert own.years.tolist() == [0] * (own.num_items + 1)


def test_from_interactions_with_metadata_strings_and_no_ratings() -> None:
    frame = pd.DataFrame(
        {"user_id": ["ann", "ann", "ann", "bob"], "item_id": ["b", "a", "c", "a"]}
    ).assign(timestamp=[2, 1, 3, 1])
    items = pd.DataFrame({"item_id": ["a", "c"], "title": ["Alpha", "Gamma"], "year": [1999, 2001]})
    dataset = SequenceDataset.from_interactions(frame, items=items)
    assert dataset.name == "my-data" and dataset.user_ids.tolist() == ["ann", "bob"]
    assert dataset.item_ids[1:].tolist() == ["a", "b", "c"]
    assert dataset.sequences[0].tolist() == [1, 2, 3]  # a, b, c by time
    assert dataset.titles == ["[padding]", "Alpha", "b", "Gamma"]
    assert dataset.years.tolist() == [0, 1999, 0, 2001]
    assert dataset.split.eval_users.tolist() == [0]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"user_id": [1], "item_id": [2]}), "no column timestamp"),
        (pd.DataFrame({"user_id": [], "item_id": [], "timestamp": []}), "the table is empty"),
        (
            pd.DataFrame({"user_id": [1], "item_id": [2], "timestamp": ["yesterday"]}),
            "timestamps must be numbers",
        ),
    ],
    ids=["missing-column", "empty", "text-timestamps"],
)
def test_from_interactions_rejects_bad_tables(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SequenceDataset.from_interactions(frame)
