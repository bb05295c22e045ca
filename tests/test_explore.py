"""Exploration helpers: the example user, one user's history table and figure, the long tail."""

from __future__ import annotations

import matplotlib.pyplot as plt  # conftest.py selects the Agg backend (no display needed)
import numpy as np
import pandas as pd
import pytest

from hydrarec_minimal.course.explore import (
    SPLIT_COLOURS,
    UNUSED_COLOUR,
    example_user,
    plot_user_history,
    top_share,
    user_history,
)
from hydrarec_minimal.data import build_dataset, load_dataset
from hydrarec_minimal.movielens import InteractionData


def tiny_dataset(rows: list[tuple[int, int, int]]):
    """(user, item, timestamp) rows as a dataset; item i is "Movie i (2000)", a drama (10: also
    a comedy)."""
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    interactions.insert(2, "rating", np.float32(4))
    item_ids = sorted({item for _, item, _ in rows})
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": [f"Movie {i} (2000)" for i in item_ids],
            "year": 2000,
            "genres": [("Comedy", "Drama") if i == 10 else ("Drama",) for i in item_ids],
        }
    )
    return build_dataset(InteractionData("tiny", interactions, items, "made in a test"))


# user 1: 4 items (10 and 20 share time 5); user 2: 2 items (not evaluated); user 3: 3 items;
# user 4: 6 items.
ROWS = [
    (1, 30, 1), (1, 20, 5), (1, 10, 5), (1, 40, 9),
    (2, 10, 1), (2, 20, 2),
    (3, 10, 1), (3, 30, 2), (3, 50, 3),
    (4, 10, 1), (4, 20, 2), (4, 30, 3), (4, 40, 4), (4, 50, 5), (4, 60, 6),
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny():
    return tiny_dataset(ROWS)


def test_user_history_lists_the_sequence_with_titles_times_and_split(tiny):
    history = user_history(tiny, 0)  # user 1
    assert list(history.columns) == [
        "position",
        "rated_at",
        "item",
        "title",
        "genres",
        "split",
        "same_time_as_previous",
    ]
    assert history.position.tolist() == [1, 2, 3, 4]
    # time order; the tie at time 5 goes to the smaller original item id (10 before 20)
    assert history.title.tolist() == [
        "Movie 30 (2000)",
        "Movie 10 (2000)",
        "Movie 20 (2000)",
        "Movie 40 (2000)",
    ]
    assert history.item.tolist() == tiny.sequences[0].tolist()
    assert history.split.tolist() == ["train", "train", "valid", "test"]
    assert history.same_time_as_previous.tolist() == [False, False, True, False]
    assert history.rated_at.iloc[-1] == pd.Timestamp(9, unit="s", tz="UTC")
    assert history.genres.tolist() == ["Drama", "Comedy, Drama", "Drama", "Drama"]


def test_user_history_agrees_with_the_leave_one_out_split(tiny):
    for user in tiny.split.eval_users:
        history = user_history(tiny, int(user))
        assert history.item[history.split == "train"].tolist() == tiny.split.train[user].tolist()
        assert history.item[history.split == "valid"].tolist() == [tiny.split.valid_target[user]]
        assert history.item[history.split == "test"].tolist() == [tiny.split.test_target[user]]


def test_a_user_with_fewer_than_three_interactions_is_all_training(tiny):
    assert user_history(tiny, 1).split.tolist() == ["train", "train"]


def test_user_history_rejects_a_user_index_out_of_range(tiny):
    with pytest.raises(IndexError, match="out of range"):
        user_history(tiny, tiny.num_users)


def test_example_user_is_the_evaluated_user_closest_to_the_median_length(tiny):
    # evaluated lengths: user index 0 -> 4, 2 -> 3, 3 -> 6; median 4
    assert example_user(tiny) == 0
    # without user 1: lengths 3 and 6, median 4.5, user 3 (length 3) is 1.5 away, user 4 too
    assert example_user(tiny_dataset(ROWS[4:])) == 1  # index 1 = user 3 (user 2 is index 0)


def test_example_user_breaks_ties_by_the_lowest_index():
    rows = [(1, 10, 1), (1, 20, 2), (1, 30, 3), (2, 10, 1), (2, 20, 2), (2, 30, 3), (2, 40, 4)]
    # lengths 3 and 4, median 3.5: both at distance 0.5 -> the first
    assert example_user(tiny_dataset(rows)) == 0


def test_example_user_needs_an_evaluated_user():
    with pytest.raises(ValueError, match="no evaluated users"):
        example_user(tiny_dataset([(1, 10, 1), (1, 20, 2)]))


def test_example_user_of_the_synthetic_dataset_is_deterministic():
    first, second = load_dataset("synthetic"), load_dataset("synthetic")
    assert example_user(first) == example_user(second)
    assert example_user(first) in set(first.split.eval_users.tolist())


@pytest.mark.parametrize(
    ("counts", "fraction", "expected"),
    [
        ([1, 5, 1, 3], 0.25, 0.5),  # the top 1 of 4 items: 5 of 10
        ([1, 5, 1, 3], 0.5, 0.8),  # top 2: 5 + 3
        ([1, 5, 1, 3], 1.0, 1.0),
        ([1, 5, 1, 3], 0.01, 0.5),  # at least one item
        ([1, 5, 1, 3], 0.3, 0.8),  # ceil(1.2) = 2 items
        ([1] * 100, 0.07, 0.07),  # 0.07 * 100 is 7.000000000000001 in floating point: 7 items
    ],
)
def test_top_share(counts, fraction, expected):
    assert top_share(np.array(counts), fraction) == pytest.approx(expected)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_top_share_rejects_fractions_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="fraction"):
        top_share(np.array([1, 2]), fraction)


def test_top_share_needs_interactions():
    with pytest.raises(ValueError, match="no interactions"):
        top_share(np.zeros(3, dtype=int), 0.5)


def test_plot_user_history_draws_the_split_for_both_stages(tiny):
    history = user_history(tiny, 3)  # 6 items
    fig = plot_user_history(history, title="user 4")
    try:
        top, bottom = fig.axes
        assert top.get_title() == "user 4"
        labels = [text.get_text() for text in top.get_legend().get_texts()]
        assert labels == ["train (4 items)", "valid: Movie 50 (2000)", "test: Movie 60 (2000)"]
        bars = bottom.patches
        assert len(bars) == 2 * len(history)  # one cell per interaction and stage
        colours = [plt.matplotlib.colors.to_hex(bar.get_facecolor()) for bar in bars]
        hex_of = {
            name: plt.matplotlib.colors.to_hex(colour)
            for name, colour in {**SPLIT_COLOURS, "unused": UNUSED_COLOUR}.items()
        }
        validation, test = colours[: len(history)], colours[len(history) :]
        assert validation == [hex_of["train"]] * 4 + [hex_of["valid"], hex_of["unused"]]
        assert test == [hex_of["train"]] * 5 + [hex_of["test"]]
    finally:
        plt.close(fig)


def test_plot_user_history_of_a_user_without_targets(tiny):
    fig = plot_user_history(user_history(tiny, 1))
    try:
        labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
        assert labels == ["train (2 items)"]
    finally:
        plt.close(fig)
