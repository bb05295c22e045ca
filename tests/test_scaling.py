"""Whole-model cost sweeps and the streaming-versus-recompute measurement."""

from __future__ import annotations

import pytest
import torch

from hydrarec_minimal.attention import hydra_attention_reference
from hydrarec_minimal.batches import TrainBatch
from hydrarec_minimal.course import scaling
from hydrarec_minimal.course.scaling import (
    build_model,
    epoch_seconds_side_by_side,
    random_histories,
    streaming_costs,
    sweep_model_lengths,
)
from hydrarec_minimal.fast import compiled
from hydrarec_minimal.fast.compiled import CompiledInference


def test_random_histories_are_seeded_item_ids_without_padding():
    a, b = random_histories(3, 50, num_items=7, seed=1), random_histories(3, 50, 7, seed=1)
    assert a.shape == (3, 50) and a.dtype == torch.long
    assert torch.equal(a, b)
    assert int(a.min()) >= 1 and int(a.max()) <= 7
    assert not torch.equal(a, random_histories(3, 50, 7, seed=2))


def test_build_model_takes_config_fields_and_is_seeded():
    first = build_model("hydra", 32, dim=16, num_items=50)
    again = build_model("hydra", 32, dim=16, num_items=50)
    assert first.config.dim == 16 and first.config.num_items == 50
    assert first.config.max_len == 32 and first.config.causal
    pairs = zip(first.parameters(), again.parameters(), strict=True)
    assert all(torch.equal(p, q) for p, q in pairs)


def test_sweep_gives_one_row_per_kernel_and_length_and_sees_quadratic_memory():
    lengths = [128, 512]
    table = sweep_model_lengths(
        ["softmax", "hydra"], lengths, batch=2, repeats=1, dim=16, num_items=50
    )
    assert list(zip(table.kind, table.n, strict=True)) == [
        ("softmax", 128), ("softmax", 512), ("hydra", 128), ("hydra", 512)
    ]  # fmt: skip
    assert (table[["train_seconds", "infer_seconds"]] > 0).all().all()
    peak = table.set_index(["kind", "n"]).train_peak_bytes
    # 4x the length: hydra's training memory grows about 4x (softmax runs PyTorch's fused
    # kernel, linear in memory too); the explicit n x n reference grows far faster
    assert peak["hydra", 512] / peak["hydra", 128] < 5
    explicit = sweep_model_lengths(
        ["hydra"], lengths, batch=2, repeats=1, dim=16, num_items=50,
        kernel=hydra_attention_reference,
    ).set_index("n").train_peak_bytes  # fmt: skip
    assert explicit[512] / explicit[128] > 2 * peak["hydra", 512] / peak["hydra", 128]


def test_streaming_costs_need_models_longer_than_every_history():
    hydra, sasrec = build_model("hydra", 16, dim=8), build_model("softmax", 16, dim=8)
    with pytest.raises(ValueError, match="must exceed the longest history 16"):
        streaming_costs(hydra, sasrec, [4, 16])
    with pytest.raises(ValueError, match="users must be at least 1"):
        streaming_costs(hydra, sasrec, [4], users=0)
    table = streaming_costs(hydra, sasrec, [4, 8], users=3)
    assert table.n.tolist() == [4, 8] and table.users.tolist() == [3, 3]
    assert list(table.columns) == [
        "n", "users", "streaming step (hydra)", "recompute hydra", "recompute SASRec"
    ]  # fmt: skip


def test_compiled_streaming_costs_add_the_compiled_step_and_the_compiled_sasrec(monkeypatch):
    autotune_asked = []

    def recording(function, *, autotune=True):
        autotune_asked.append(autotune)
        return CompiledInference(function, autotune=autotune)

    monkeypatch.setattr(scaling, "CompiledInference", recording)  # SASRec's
    monkeypatch.setattr(compiled, "CompiledInference", recording)  # compile_step's
    hydra = build_model("hydra", 8, dim=8, num_items=20)
    sasrec = build_model("softmax", 8, dim=8, num_items=20)
    # without autotuning: a minute less of compiling, the same two compiled programs
    table = streaming_costs(hydra, sasrec, [4], users=2, repeats=1, compiled=True, autotune=False)
    compiled_ways = ["streaming step (hydra, compiled)", "recompute SASRec (compiled)"]
    assert list(table.columns)[-2:] == compiled_ways
    assert (table[compiled_ways] > 0).all().all()
    assert autotune_asked == [False, False]
    with pytest.raises(ValueError, match="CPU only"):
        streaming_costs(hydra.to("meta"), sasrec.to("meta"), [4], compiled=True)


class CountingBatches:
    """Training batches that count how many epochs iterated over them."""

    def __init__(self, batches, log, name):
        self.batches, self.log, self.name = batches, log, name

    def __iter__(self):
        self.log.append(self.name)
        return iter(self.batches)


def test_side_by_side_epochs_alternate_models_after_one_warm_up_round():
    log = []
    items = random_histories(4, 9, num_items=20)
    batch = TrainBatch(items[:, :-1], items[:, 1:], torch.ones(4, 8, dtype=torch.bool))
    setups = {}
    for name in ("a", "b"):
        model = build_model("hydra", 8, dim=8, num_items=20)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        setups[name] = (model, optimizer, CountingBatches([batch], log, name))
    best = epoch_seconds_side_by_side(setups, rounds=2)
    assert log == ["a", "b"] * 3  # warm-up + 2 timed rounds, alternating
    assert set(best) == {"a", "b"} and all(seconds > 0 for seconds in best.values())
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        epoch_seconds_side_by_side(setups, rounds=0)
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        epoch_seconds_side_by_side(setups, loss="mse")


def test_side_by_side_epochs_train_with_the_loss_asked_for(monkeypatch):
    used = []
    monkeypatch.setattr(
        scaling,
        "train_one_epoch",
        lambda model, batches, optimizer, loss, *a, **k: used.append(loss),
    )
    model = build_model("hydra", 8, dim=8, num_items=20)
    setups = {"m": (model, torch.optim.SGD(model.parameters(), lr=0.1), [])}
    epoch_seconds_side_by_side(setups, rounds=1, loss="bce")
    epoch_seconds_side_by_side(setups, rounds=1)
    assert used == ["bce", "bce", "ce", "ce"]  # warm-up and timed round each; "ce" by default
