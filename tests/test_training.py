"""Training works: every kernel x direction can overfit, checkpoints round-trip, the CLI writes
every results field, and a trained HydraRec beats popularity on the synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from devices import NEEDS_CUDA

from hydrarec_minimal.attention import ATTENTION_KERNELS
from hydrarec_minimal.batches import CausalTrainingSet, ClozeTrainingSet, pad_right
from hydrarec_minimal.checkpoint import load_checkpoint, save_checkpoint
from hydrarec_minimal.course.cli import main
from hydrarec_minimal.course.experiment import evaluation_batches, run_experiment
from hydrarec_minimal.data import PROTOCOL, build_dataset
from hydrarec_minimal.errors import UserError
from hydrarec_minimal.metrics import metrics_from_ranks
from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.synthetic import make_synthetic
from hydrarec_minimal.train import (
    TrainConfig,
    evaluate,
    seed_everything,
    sequence_loss,
    train_one_epoch,
)

KINDS = sorted(ATTENTION_KERNELS)
NUM_ITEMS = 12
CPU = torch.device("cpu")


def tiny_sequences() -> list[np.ndarray]:
    """8 users whose first item is their own, so each prefix determines the rest."""
    rng = np.random.default_rng(0)
    return [np.array([u + 1, *rng.integers(1, NUM_ITEMS + 1, size=6)]) for u in range(8)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("direction", ["causal", "bidirectional"])
def test_every_kernel_and_direction_overfits_a_tiny_dataset(kind, direction):
    seed_everything(0)
    sequences = tiny_sequences()
    config = ModelConfig(
        num_items=NUM_ITEMS,
        attention=kind,
        direction=direction,
        max_len=8,
        dim=32,
        dropout=0.0,
        layers=1,
    )
    model = SequentialRecommender(config)
    # Cloze sees fresh masks every step: it gets more, smaller steps than next-item training.
    steps, lr = (250, 1e-2) if direction == "causal" else (800, 3e-3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    if direction == "causal":
        examples = CausalTrainingSet(sequences, max_len=8)
    else:
        examples = ClozeTrainingSet(sequences, 8, NUM_ITEMS, mask_prob=0.15, seed=0)
    batch = [examples[i] for i in range(len(examples))]
    fixed = examples.collate(batch)  # the loss is compared on one fixed batch (fixed masks)
    before = sequence_loss(model, fixed.inputs, fixed.targets).item()
    for _ in range(steps):
        train_one_epoch(model, [examples.collate(batch)], optimizer, "ce", CPU, progress=False)
    after = sequence_loss(model.eval(), fixed.inputs, fixed.targets).item()
    assert after < before / 20, f"loss {before:.3f} -> {after:.3f}"

    model.eval()
    items = pad_right(sequences)  # (8, 7)
    with torch.no_grad():
        if direction == "causal":  # HR@1 of the next item at every position
            predicted = model(items[:, :-1]).argmax(-1)
            hits = predicted == items[:, 1:]
        else:  # HR@1 of each item when it alone is masked
            hits = torch.stack(
                [
                    model(items.index_fill(1, torch.tensor([t]), config.mask_token))[:, t].argmax(
                        -1
                    )
                    == items[:, t]
                    for t in range(items.shape[1])
                ]
            )
    assert hits.float().mean() >= 0.95


def synthetic_dataset(num_users: int = 200):
    return build_dataset(make_synthetic(num_users=num_users, num_items=150, seed=1))


@pytest.mark.parametrize("previous_item", [False, True])
def test_checkpoint_round_trip_gives_identical_scores(tmp_path, previous_item):
    dataset = synthetic_dataset(60)
    config = ModelConfig(
        num_items=dataset.num_items,
        attention="hydra",
        max_len=20,
        dim=16,
        previous_item=previous_item,
    )
    seed_everything(0)
    model = SequentialRecommender(config).eval()
    if previous_item:  # not the zeros it starts from, so that loading it back matters
        torch.nn.init.normal_(model.previous_item.weight)
    batch = next(iter(evaluation_batches(dataset, "test", config)))
    path = save_checkpoint(model, tmp_path / "model.pt", extra={"note": "hello"})
    loaded, extra = load_checkpoint(path)
    assert extra == {"note": "hello"} and loaded.config == config
    assert torch.equal(loaded.score_last(batch.inputs), model.score_last(batch.inputs))


CUDA_IF_PRESENT = [  # (device, fused attention); on CUDA: bfloat16 mixed precision learns too
    ("cpu", False),
    pytest.param("cuda", False, marks=NEEDS_CUDA),
    pytest.param("cuda", True, marks=NEEDS_CUDA),
]


@pytest.mark.parametrize(("device", "fused"), CUDA_IF_PRESENT)
def test_trained_hydrarec_beats_popularity_on_synthetic_data(device, fused):
    dataset = synthetic_dataset(300)
    config = ModelConfig(num_items=dataset.num_items, attention="hydra", max_len=50, dim=32)
    train_config = TrainConfig(epochs=15, lr=3e-3, progress=False, device=device)
    results = run_experiment(dataset, config, train_config, fused_attention=fused)
    assert results["device"].startswith(device)
    assert results["config"]["model"]["fused_attention"] is fused
    model_ndcg = results["metrics"]["test"]["NDCG@10"]
    floor_ndcg = results["popularity_baseline"]["test"]["NDCG@10"]
    assert model_ndcg > 1.5 * floor_ndcg, (model_ndcg, floor_ndcg)


def test_evaluation_is_the_same_whatever_the_batch_size():
    dataset = synthetic_dataset(60)
    config = ModelConfig(num_items=dataset.num_items, max_len=20, dim=16)
    seed_everything(0)
    model = SequentialRecommender(config).eval()
    batches = list(evaluation_batches(dataset, "valid", config))
    whole = evaluate(model.score_last, batches)
    single = [b for b in batches]  # one batch of 60 users
    assert len(single) == 1
    split = []
    for b in single:
        for start in range(0, len(b.targets), 7):
            part = slice(start, start + 7)
            split.append(type(b)(**{k: getattr(b, k)[part] for k in vars(b)}))
    assert evaluate(model.score_last, split) == pytest.approx(whole)


def test_cli_train_writes_every_results_field(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYDRAREC_QUICK", "1")
    output = tmp_path / "out" / "results.json"
    code = main(
        ["train", "--dataset", "synthetic", "--epochs", "3", "--dim", "16", "--max-len", "20",
         "--previous-item", "--quiet", "--output", str(output),
         "--checkpoint", str(tmp_path / "model.pt")]
    )  # fmt: skip
    assert code == 0
    results = json.loads(output.read_text())
    for key in ("dataset", "protocol", "config", "metrics", "num_users", "num_items",
                "num_interactions", "epochs_run", "seconds_per_epoch", "device"):  # fmt: skip
        assert key in results, key
    for stage in ("valid", "test"):
        assert set(results["metrics"][stage]) >= {"HR@10", "NDCG@10", "MRR@10", "HR@1", "HR@20"}
    assert results["dataset"] == "synthetic" and results["epochs_run"] == 2  # quick mode: 2
    assert results["config"]["model"]["previous_item"] is True
    assert results["num_users"] == 100 and results["quick_mode"] is True
    assert results["protocol"].endswith(PROTOCOL) and "100 users" in results["protocol"]
    users = len(results["test_ranks"]["full"])
    assert users == len(results["test_ranks"]["full-with-history"]) > 0
    from_ranks = metrics_from_ranks(torch.tensor(results["test_ranks"]["full"]))
    assert from_ranks == pytest.approx(results["metrics"]["test"])  # the ranks behind the metrics
    # keeping the history among the candidates can only push a target down, never up
    kept, excluded = (np.array(results["test_ranks"][p]) for p in ("full-with-history", "full"))
    assert (kept >= excluded).all()
    assert set(results["metrics_with_history"]) == {"valid", "test"}
    printed = capsys.readouterr().out
    assert "Protocol:" in printed and "test (full ranking, history excluded)" in printed
    model, extra = load_checkpoint(tmp_path / "model.pt")
    assert extra["results"]["metrics"] == results["metrics"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--attention", "cosine"], "invalid choice: 'cosine'"),
        (["--dataset", "ml-5"], "choose from 'ml-100k', 'ml-1m', 'ml-20m', 'synthetic'"),
        (["--epochs", "0"], "must be at least 1"),
        (["--max-len", "0"], "max_len must be at least 1"),
        (["--dropout", "2"], "dropout must be in"),
        (["--last-item-prob", "1.5"], "last_item_prob must be in [0, 1]"),
        (["--attention", "softmax", "--fused-attention"], "--fused-attention is for hydra only"),
    ],
)
def test_cli_rejects_bad_arguments_with_a_usage_error(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *arguments])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def unwritable_paths(tmp_path):
    """(option, path, what the error says): real paths that cannot be written, even by root."""
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    (tmp_path / "a-folder").mkdir()
    under_a_file = tmp_path / "notes.txt" / "results.json"
    return {
        "output under a file": ("--output", under_a_file, "notes.txt is a file, not a folder"),
        "output is a folder": ("--output", tmp_path / "a-folder", "it is a folder"),
        "checkpoint under a file": ("--checkpoint", tmp_path / "notes.txt" / "m.pt", "is a file"),
    }


@pytest.mark.parametrize(
    "case", ["output under a file", "output is a folder", "checkpoint under a file"]
)
def test_cli_train_checks_where_it_writes_before_training(case, tmp_path, monkeypatch, capsys):
    option, path, problem = unwritable_paths(tmp_path)[case]
    # Real MovieLens is missing and must not be replaced: loading it would fail. So an error
    # about the output, not the data, shows the check comes before loading and training.
    monkeypatch.setenv("HYDRAREC_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("HYDRAREC_STRICT_DATA", "1")
    paths = {"--output": tmp_path / "results.json", "--checkpoint": tmp_path / "model.pt"}
    paths[option] = path
    arguments = [str(item) for pair in paths.items() for item in pair]
    assert main(["train", "--dataset", "ml-100k", *arguments]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("error: cannot write the ") and f" to {path}: " in captured.err
    assert problem in captured.err and "HYDRAREC_DATA" not in captured.err
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "model.pt").exists()


def test_run_experiment_checks_the_checkpoint_path_before_training(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    dataset = synthetic_dataset(60)
    config = ModelConfig(num_items=dataset.num_items, max_len=20, dim=16)
    path = tmp_path / "notes.txt" / "model.pt"
    with pytest.raises(UserError, match=f"cannot write the checkpoint to {path}: .* is a file"):
        run_experiment(dataset, config, TrainConfig(epochs=100, progress=False), path)
