"""Whole-model cost sweeps and the streaming-versus-recompute measurement."""

from __future__ import annotations

import pytest
import torch

from hydrarec_minimal.scaling import (
    build_model,
    random_histories,
    streaming_costs,
    sweep_model_lengths,
)


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


def test_sweep_gives_one_row_per_kernel_and_length_with_quadratic_softmax_memory():
    lengths = [128, 512]
    table = sweep_model_lengths(
        ["softmax", "hydra"], lengths, batch=2, repeats=1, dim=16, num_items=50
    )
    assert list(zip(table.kind, table.n, strict=True)) == [
        ("softmax", 128), ("softmax", 512), ("hydra", 128), ("hydra", 512)
    ]  # fmt: skip
    assert (table[["train_seconds", "infer_seconds"]] > 0).all().all()
    peak = table.set_index(["kind", "n"]).train_peak_bytes
    # 4x the length: hydra's training memory grows about 4x, softmax's n x n weights more
    assert peak["hydra", 512] / peak["hydra", 128] < 5
    assert peak["softmax", 512] / peak["softmax", 128] > peak["hydra", 512] / peak["hydra", 128]
    assert peak["softmax", 512] > peak["hydra", 512]


def test_streaming_costs_need_models_longer_than_every_history():
    hydra, sasrec = build_model("hydra", 16, dim=8), build_model("softmax", 16, dim=8)
    with pytest.raises(ValueError, match="must exceed the longest history 16"):
        streaming_costs(hydra, sasrec, [4, 16])
    table = streaming_costs(hydra, sasrec, [4, 8])
    assert table.n.tolist() == [4, 8]
    assert list(table.columns) == [
        "n", "streaming step (hydra)", "recompute hydra", "recompute SASRec"
    ]  # fmt: skip
