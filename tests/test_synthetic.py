"""The synthetic stand-in: seeded, MovieLens-shaped, skewed, and sequentially learnable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydrarec_minimal.course.data_cli import dataset_summary
from hydrarec_minimal.data import SequenceDataset, build_dataset
from hydrarec_minimal.movielens import RATING_COLUMNS, title_year
from hydrarec_minimal.synthetic import make_synthetic


@pytest.fixture(scope="module")
def dataset() -> SequenceDataset:
    return build_dataset(make_synthetic(seed=0))


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = make_synthetic(seed=7), make_synthetic(seed=7), make_synthetic(seed=8)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert not a.interactions.equals(c.interactions)


def test_movielens_shaped() -> None:
    data = make_synthetic(num_users=50, num_items=80, seed=1)
    assert data.name == "synthetic"
    assert tuple(data.interactions.columns) == RATING_COLUMNS
    dtypes = data.interactions.dtypes.astype(str).tolist()
    assert dtypes == ["int64", "int64", "float32", "int64"]
    assert set(data.interactions["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert data.interactions["user_id"].nunique() == 50
    assert list(data.items.columns) == ["item_id", "title", "year", "genres"]
    assert all(
        title_year(t) == y for t, y in zip(data.items["title"], data.items["year"], strict=True)
    )
    assert data.items["title"].str.startswith("Synthetic ").all()
    for _, user in data.interactions.groupby("user_id"):
        assert user["item_id"].is_unique  # nobody sees an item twice
        assert user["timestamp"].is_monotonic_increasing and user["timestamp"].is_unique


def test_small_by_default(dataset: SequenceDataset) -> None:
    assert dataset.num_users == 500 and dataset.num_items <= 400
    assert 10_000 < dataset.num_interactions < 20_000
    assert dataset_summary(dataset)["num_eval_users"] == 500


def test_popularity_is_skewed(dataset: SequenceDataset) -> None:
    counts = np.sort(np.bincount(np.concatenate(dataset.sequences))[1:])[::-1]
    top_tenth = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_tenth > 0.25  # uniform popularity would give 0.10
    assert counts[0] > 5 * np.median(counts)


def hit_rate_at_10(dataset: SequenceDataset, scores_for) -> float:
    """Full-ranking HR@10 on the test split, history items excluded."""
    split = dataset.split
    hits = []
    for user in split.eval_users:
        history, target = split.history(user, "test"), split.target(user, "test")
        scores = scores_for(history).astype(np.float64)
        scores[0] = -np.inf
        scores[history] = -np.inf
        hits.append((scores > scores[target]).sum() < 10)
    return float(np.mean(hits))


def test_transitions_beat_popularity(dataset: SequenceDataset) -> None:
    """A first-order model fitted on the training part beats popularity by a wide margin."""
    n = dataset.num_items + 1
    transitions = np.zeros((n, n))
    for items in dataset.split.train:
        np.add.at(transitions, (items[:-1], items[1:]), 1.0)
    popularity = dataset.popularity.astype(np.float64)
    pop = hit_rate_at_10(dataset, lambda history: popularity)
    markov = hit_rate_at_10(dataset, lambda history: transitions[history[-1]] + 1e-6 * popularity)
    assert pop > 0.03  # popularity is a real baseline...
    assert markov > 2 * pop and markov - pop > 0.25, (markov, pop)  # ...and order matters more
