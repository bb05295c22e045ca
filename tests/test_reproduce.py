"""The comparison table aggregates runs correctly: mean and sample std over seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hydrarec_minimal.course.cli import main
from hydrarec_minimal.course.reproduce import (
    changed_settings,
    compare_runs,
    comparison_table,
    default_settings,
    markdown_table,
    paired_differences,
    runs_of,
    stored_ranks,
    write_comparison,
)


def fake_run(attention: str, direction: str, ndcg: float, seconds: float) -> dict:
    metrics = {"HR@10": 2 * ndcg, "NDCG@10": ndcg, "MRR@10": ndcg / 2}
    return {
        "config": {"model": {"attention": attention, "direction": direction}},
        "metrics": {"test": metrics},
        "popularity_baseline": {"test": {"HR@10": 0.05, "NDCG@10": 0.025, "MRR@10": 0.0125}},
        "seconds_per_epoch": seconds,
        "epochs_run": 10,
        "protocol": "a protocol",
        "device": "cpu",
    }


RUNS = [
    fake_run("hydra", "bidirectional", 0.03, 2.0),
    fake_run("hydra", "causal", 0.08, 5.0),
    fake_run("hydra", "causal", 0.10, 7.0),
    fake_run("softmax", "causal", 0.09, 6.0),
]


def test_mean_and_sample_std_per_model_causal_and_baselines_first():
    table = comparison_table(RUNS)
    assert table.model.tolist() == [
        "SASRec", "HydraRec (causal)", "HydraRec (bidirectional)", "Popularity (floor)"
    ]  # fmt: skip
    hydra = table.set_index("model").loc["HydraRec (causal)"]
    assert hydra["NDCG@10 mean"] == pytest.approx(0.09)
    assert hydra["NDCG@10 std"] == pytest.approx(0.02**0.5 * 0.1)  # sample std of .08, .10
    assert hydra["s/epoch mean"] == pytest.approx(6.0) and hydra["seeds"] == 2
    text = markdown_table(table)
    assert "| HydraRec (causal) | 0.1800 ± 0.0283 | 0.0900 ± 0.0141 |" in text
    assert "| SASRec | 0.1800 | 0.0900 |" in text  # one seed: no ± part
    assert "| Popularity (floor) | 0.0500 | 0.0250 | 0.0125 | – | – | – | – | – | – |" in text


def ranked_run(attention: str, seed: int, ranks: list[int]) -> dict:
    run = fake_run(attention, "causal", 0.1, 1.0)
    run["config"]["train"] = {"seed": seed, "epochs": 100}
    return run | {"test_ranks": {"full": ranks, "full-with-history": [r + 1 for r in ranks]}}


def test_paired_differences_come_from_the_stored_ranks_of_both_protocols():
    rng = np.random.default_rng(0)
    softmax = [rng.integers(0, 30, 400) for _ in range(3)]
    runs = [ranked_run("softmax", seed, r.tolist()) for seed, r in enumerate(softmax)]
    runs += [ranked_run("hydra", seed, (r // 2).tolist()) for seed, r in enumerate(softmax)]
    differences = paired_differences(runs).set_index("protocol")
    assert differences.loc["history excluded", "verdict"] == "better"
    assert differences.loc["history excluded", "model"] == "HydraRec (causal)"
    assert differences.loc["history excluded", "other"] == "SASRec"
    low, high = differences.loc["history kept", ["low", "high"]]
    assert 0 < low < differences.loc["history kept", "mean"] < high
    assert stored_ranks(runs, "hydra", "causal", "full").shape == (3, 400)
    assert paired_differences(RUNS).empty  # no stored ranks: nothing to compare


def test_write_comparison_reads_run_files_and_states_the_protocol(tmp_path):
    (tmp_path / "runs").mkdir()
    for index, run in enumerate(RUNS):
        (tmp_path / "runs" / f"run{index}.json").write_text(json.dumps(run))
    text = write_comparison(tmp_path)
    assert text.startswith("Protocol: a protocol")
    assert "Settings: the defaults of `train`.\n" in text  # the fake runs record no settings
    assert (tmp_path / "comparison.md").read_text() == text
    assert (tmp_path / "comparison.csv").exists()
    with pytest.raises(ValueError, match="no results files"):
        write_comparison(tmp_path / "empty")


def with_settings(run: dict, **train: object) -> dict:
    return run | {"config": run["config"] | {"train": default_settings() | train}}


def test_the_settings_that_differ_from_the_defaults_are_named():
    defaults = [with_settings(run) for run in RUNS]
    assert changed_settings(defaults) == []
    changed = [with_settings(run, last_item_prob=0.5, patience=20) for run in RUNS]
    assert changed_settings(changed) == ["patience = 20", "last_item_prob = 0.5"]
    mixed = [with_settings(RUNS[0], lr=0.002), with_settings(RUNS[1])]
    assert changed_settings(mixed) == ["lr = 0.001 / 0.002"]


def test_write_comparison_states_the_settings_that_differ(tmp_path):
    (tmp_path / "runs").mkdir()
    for index, run in enumerate(RUNS):
        path = tmp_path / "runs" / f"run{index}.json"
        path.write_text(json.dumps(with_settings(run, epochs=300)))
    assert "Settings: the defaults of `train`, except epochs = 300.\n" in write_comparison(tmp_path)


@pytest.mark.parametrize("case", ["under a file", "a file"])
def test_reproduce_checks_its_output_folder_before_training(case, tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    output_dir = tmp_path / "notes.txt" / ("ml-100k" if case == "under a file" else "")
    # Real MovieLens is missing and must not be replaced: an error about the output folder,
    # not the data, shows the check comes before loading the data and training.
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("HYDRAREC_STRICT_DATA", "1")
    assert main(["reproduce", "--dataset", "ml-100k", "--output-dir", str(output_dir)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    runs = output_dir / "runs"
    assert captured.err.startswith(f"error: cannot write the results files to {runs}: ")
    assert "notes.txt is a file, not a folder" in captured.err


def test_models_trained_at_their_own_settings_are_named_with_them(tmp_path):
    (tmp_path / "runs").mkdir()
    for index, (attention, lr) in enumerate([("hydra", 0.001), ("softmax", 0.003)]):
        run = fake_run(attention, "causal", 0.1, 1.0)
        run["config"]["train"] = {"lr": lr}
        (tmp_path / "runs" / f"run{index}.json").write_text(json.dumps(run))
    text = write_comparison(tmp_path)
    assert "Settings: per model, HydraRec (causal): the defaults of `train`; " in text
    assert "SASRec: lr = 0.003.\n" in text


def test_runs_of_picks_one_model_in_order():
    runs = [fake_run("hydra", "causal", 0.1, 1), fake_run("hydra", "bidirectional", 0.2, 1)]
    runs += [fake_run("softmax", "causal", 0.3, 1), fake_run("hydra", "causal", 0.4, 1)]
    picked = runs_of(runs, "hydra", "causal")
    assert [run["metrics"]["test"]["NDCG@10"] for run in picked] == [0.1, 0.4]
    assert runs_of(runs, "linear", "causal") == []


def test_runs_of_two_folders_are_compared_by_name_and_a_list_must_hold_one_model():
    rng = np.random.default_rng(1)
    plain = [rng.integers(0, 30, 300) for _ in range(2)]
    baseline = [ranked_run("softmax", seed, r.tolist()) for seed, r in enumerate(plain)]
    variant = [ranked_run("hydra", seed, (r // 3).tolist()) for seed, r in enumerate(plain)]
    for run in variant:
        run["config"]["model"]["previous_item"] = True
    differences = compare_runs(variant, baseline).set_index("protocol")
    assert differences.loc["history excluded", "model"] == "HydraRec (causal) + previous item"
    assert differences.loc["history excluded", "other"] == "SASRec"
    assert (differences.verdict == "better").all()
    # the same numbers as one folder's comparison, where the names carry no variant
    same = paired_differences(variant + baseline).set_index("protocol")
    assert same.loc["history kept", "mean"] == differences.loc["history kept", "mean"]
    assert same.loc["history kept", "model"] == "HydraRec (causal)"
    with pytest.raises(ValueError, match="one model"):
        compare_runs(variant + baseline, baseline)
    assert compare_runs(RUNS[:1], RUNS[:1]).empty  # no stored ranks: nothing to compare
