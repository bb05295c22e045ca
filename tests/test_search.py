"""The search picks each model's setting on the validation split, never on the test split."""

from __future__ import annotations

import json

import pytest

from hydrarec_minimal.course.search import markdown_search, search_table, setting_folder


def fake_run(attention: str, lr: float, batch_size: int, valid: list[float], test: float) -> dict:
    best = max(range(len(valid)), key=valid.__getitem__) + 1
    return {
        "config": {
            "model": {"attention": attention, "direction": "causal"},
            "train": {"lr": lr, "batch_size": batch_size, "epochs": 200, "seed": 0},
        },
        "history": {"valid_metrics": [{"NDCG@10": v} for v in valid]},
        "best_epoch": best,
        "epochs_run": len(valid),
        "wall_seconds": 60.0,
        "metrics": {"test": {"NDCG@10": test}},
    }


def write(tmp_path, run: dict) -> None:
    train = run["config"]["train"]
    folder = setting_folder(tmp_path, train["lr"], train["batch_size"]) / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run['config']['model']['attention']}-causal-seed0.json").write_text(
        json.dumps(run)
    )


def test_each_model_gets_its_best_validation_setting_whatever_the_test_says(tmp_path):
    write(tmp_path, fake_run("hydra", 1e-3, 32, [0.05, 0.11, 0.10], test=0.01))
    write(tmp_path, fake_run("hydra", 3e-3, 32, [0.08, 0.09], test=0.50))  # better test: ignored
    write(tmp_path, fake_run("softmax", 1e-3, 32, [0.07], test=0.0))
    write(tmp_path, fake_run("softmax", 3e-3, 32, [0.06, 0.12], test=0.0))
    table = search_table(tmp_path)
    chosen = table[table.chosen].set_index("model")
    assert chosen.loc["HydraRec (causal)", "lr"] == 1e-3
    assert chosen.loc["HydraRec (causal)", "valid NDCG@10"] == 0.11  # the best epoch's
    assert chosen.loc["SASRec", "lr"] == 3e-3
    assert len(table) == 4 and table.chosen.sum() == 2
    text = markdown_search(table)
    assert "| HydraRec (causal) | 0.001 | 32 | **0.1100** | 3 (200) | 1.0 |" in text


def test_no_runs_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no search runs"):
        search_table(tmp_path)
