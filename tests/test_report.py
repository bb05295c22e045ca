"""Reading results: learning curves, comparisons with verdicts, one user's recommendations."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from hydrarec_minimal.course.report import (
    compare,
    find_results,
    learning_curves,
    plot_learning_curves,
    recommend,
)
from hydrarec_minimal.data import build_dataset
from hydrarec_minimal.metrics import full_ranking_ranks
from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.synthetic import make_synthetic


def fake_run(attention: str, direction: str, seed: int, ndcg_per_epoch: list[float]) -> dict:
    return {
        "config": {
            "model": {"attention": attention, "direction": direction},
            "train": {"seed": seed},
        },
        "history": {
            "train_loss": [7.0 - epoch for epoch in range(len(ndcg_per_epoch))],
            "valid_metrics": [{"NDCG@10": value, "HR@10": 2 * value} for value in ndcg_per_epoch],
        },
        "popularity_baseline": {"valid": {"NDCG@10": 0.02}},
    }


RUNS = [
    fake_run("hydra", "causal", 0, [0.01, 0.05, 0.04]),
    fake_run("hydra", "causal", 1, [0.02, 0.03]),
    fake_run("softmax", "bidirectional", 0, [0.01]),
]


def test_learning_curves_have_one_row_per_epoch_numbered_from_one():
    curves = learning_curves(RUNS)
    assert len(curves) == 3 + 2 + 1
    first = curves[(curves.attention == "hydra") & (curves.seed == 0)]
    assert first.epoch.tolist() == [1, 2, 3]
    assert first["valid NDCG@10"].tolist() == [0.01, 0.05, 0.04]
    assert first.train_loss.tolist() == [7.0, 6.0, 5.0]
    assert set(curves.model) == {"HydraRec (causal)", "BERT4Rec"}


def test_learning_curve_figure_draws_every_run_of_one_direction_and_marks_best_epochs():
    fig = plot_learning_curves(RUNS, "causal")
    loss_ax, metric_ax = fig.axes
    assert len(loss_ax.lines) == 2  # the two causal runs
    best_markers = [line for line in metric_ax.lines if line.get_marker() == "o"]
    assert sorted(float(line.get_ydata()[0]) for line in best_markers) == [0.03, 0.05]
    with pytest.raises(ValueError, match="no runs with direction"):
        plot_learning_curves(RUNS[:2], "bidirectional")


def comparison(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"model": m, "NDCG@10 mean": mean, "NDCG@10 std": std} for m, mean, std in rows]
    )


@pytest.mark.parametrize(
    ("mean", "verdict"),
    [(0.10, "better"), (0.0850, "level (within one std)"), (0.065, "worse")],
)
def test_compare_calls_a_difference_larger_than_the_larger_std_better_or_worse(mean, verdict):
    table = comparison([("A", mean, 0.002), ("B", 0.08, 0.01), ("floor", 0.02, float("nan"))])
    result = compare(table, "A", "B")
    assert result["verdict"] == verdict
    assert result["ratio"] == pytest.approx(mean / 0.08)
    assert compare(table, "B", "floor")["other std"] == 0.0  # no std: counted as 0


def test_compare_names_the_rows_it_has_when_a_model_is_missing():
    with pytest.raises(KeyError, match="rows: \\['A'\\]"):
        compare(comparison([("A", 0.1, 0.0)]), "A", "SASRec")


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(make_synthetic(num_users=40, num_items=120, seed=3))


@pytest.mark.parametrize("direction", ["causal", "bidirectional"])
def test_recommendations_exclude_the_history_and_agree_with_the_evaluation(dataset, direction):
    torch.manual_seed(0)
    config = ModelConfig(num_items=dataset.num_items, direction=direction, max_len=20, dim=16)
    model = SequentialRecommender(config)
    user = int(dataset.split.eval_users[0])
    table, rank = recommend(model, dataset, user, k=dataset.num_items)
    history = set(dataset.split.history(user, "test").tolist())
    target = dataset.split.target(user, "test")
    assert not (set(table.item) & (history - {target})), "a history item was recommended"
    assert 0 not in set(table.item)
    assert len(table) == dataset.num_items - len(history - {target})  # every candidate, once
    assert table.score.is_monotonic_decreasing
    assert table.target.sum() == 1 and table.loc[table.target, "item"].item() == target
    # the same rank as the evaluation code computes for this user
    scores = torch.full((1, dataset.num_items + 1), float("-inf"))
    scores[0, torch.tensor(table.item.tolist())] = torch.tensor(table.score.tolist())
    expected = full_ranking_ranks(
        scores, torch.as_tensor(sorted(history - {target}))[None], torch.tensor([target])
    )
    assert rank == int(expected[0])


def test_recommend_refuses_a_user_who_is_not_evaluated(dataset):
    model = SequentialRecommender(ModelConfig(num_items=dataset.num_items, max_len=8, dim=8))
    with pytest.raises(ValueError, match="not evaluated"):
        recommend(model, dataset, dataset.num_users + 5)


def test_find_results_searches_upwards_and_says_how_to_make_the_files(tmp_path):
    (tmp_path / "results" / "ml-1m" / "runs").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    assert find_results("ml-1m", tmp_path / "notebooks") == tmp_path / "results" / "ml-1m"
    with pytest.raises(FileNotFoundError, match="reproduce --dataset ml-20m"):
        find_results("ml-20m", tmp_path / "notebooks")
