"""Batches: causal (shifted targets), cloze (masking), evaluation (histories, exclusions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hydrarec_minimal.batches import (
    CausalTrainingSet,
    ClozeTrainingSet,
    EvaluationSet,
    pad_right,
)
from hydrarec_minimal.data import leave_one_out
from hydrarec_minimal.model import positions_from_mask

SEQUENCES = [
    np.array([3, 1, 4, 1, 5, 9, 2, 6]),
    np.array([7, 8]),
    np.array([5]),
    np.array([2, 7, 1]),
]


def test_causal_targets_are_inputs_shifted_by_one() -> None:
    data = CausalTrainingSet(SEQUENCES, max_len=10)
    assert data.users == [0, 1, 3]  # a single item has no next item
    batch = data.collate([data[i] for i in range(len(data))])
    assert batch.inputs.shape == batch.targets.shape == (3, 7)
    assert batch.inputs[0].tolist() == [3, 1, 4, 1, 5, 9, 2]
    assert batch.targets[0].tolist() == [1, 4, 1, 5, 9, 2, 6]
    assert batch.inputs[1].tolist() == [7, 0, 0, 0, 0, 0, 0]  # right padding with 0
    assert batch.targets[1].tolist() == [8, 0, 0, 0, 0, 0, 0]
    real = batch.mask
    assert torch.equal(real, batch.targets != 0)  # every real position is trained
    assert torch.equal(batch.targets[:, :-1][real[:, 1:]], batch.inputs[:, 1:][real[:, 1:]])
    assert positions_from_mask(batch.mask)[0].tolist() == list(range(7))


def test_causal_keeps_the_most_recent_items() -> None:
    data = CausalTrainingSet(SEQUENCES, max_len=3)
    batch = data.collate([data[0]])
    assert batch.inputs[0].tolist() == [5, 9, 2] and batch.targets[0].tolist() == [9, 2, 6]


def test_appending_an_item_never_moves_earlier_positions() -> None:
    history = np.array([4, 8, 15, 16])
    longer = np.append(history, 23)
    causal = CausalTrainingSet([history, longer], max_len=10)
    batch = causal.collate([causal[0], causal[1]])
    n = len(history) - 1
    assert torch.equal(batch.inputs[0, :n], batch.inputs[1, :n])
    positions = positions_from_mask(batch.mask)
    assert torch.equal(positions[0, :n], positions[1, :n])
    split = leave_one_out([np.append(history, [1, 2]), np.append(longer, [1, 2])])
    for mask_token in (None, 99):
        evaluation = EvaluationSet(split, "valid", max_len=10, mask_token=mask_token)
        batch = evaluation.collate([evaluation[0], evaluation[1]])
        assert torch.equal(batch.inputs[0, :4], batch.inputs[1, :4])
        positions = positions_from_mask(batch.mask)
        assert torch.equal(positions[0, :4], positions[1, :4])
        assert positions[1, :5].tolist() == [0, 1, 2, 3, 4]


def test_cloze_masking_rate_token_and_targets() -> None:
    num_items, p = 50, 0.2
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, num_items + 1, size=rng.integers(20, 40)) for _ in range(400)]
    data = ClozeTrainingSet(sequences, max_len=30, num_items=num_items, mask_prob=p, seed=1)
    batch = data.collate([data[i] for i in range(len(data))])
    hidden = batch.inputs == num_items + 1
    rate = hidden.sum().item() / batch.mask.sum().item()
    assert abs(rate - p) < 0.015, rate
    assert not (hidden & ~batch.mask).any(), "padding is never masked"
    assert torch.equal(hidden, batch.targets != 0)
    original = pad_right([s[-30:] for s in sequences])
    assert torch.equal(batch.targets[hidden], original[hidden])
    assert torch.equal(batch.inputs[~hidden], original[~hidden])
    assert hidden.any(dim=1).all()


def test_cloze_masks_at_least_one_item_per_sequence() -> None:
    sequences = [np.array([1, 2]), np.array([3, 4, 5])] * 200
    data = ClozeTrainingSet(sequences, max_len=5, num_items=5, mask_prob=0.01, seed=0)
    batch = data.collate([data[i] for i in range(len(data))])
    assert ((batch.inputs == 6).sum(dim=1) >= 1).all()


def test_cloze_is_seeded() -> None:
    def masks(seed: int) -> torch.Tensor:
        data = ClozeTrainingSet(SEQUENCES, max_len=8, num_items=9, seed=seed)
        return data.collate([data[i] for i in range(len(data))]).inputs

    assert torch.equal(masks(3), masks(3))


def test_cloze_last_item_samples() -> None:
    """A share ``last_item_prob`` of sequences has exactly its last real item masked."""
    num_items = 50
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, num_items + 1, size=rng.integers(5, 40)) for _ in range(1000)]
    data = ClozeTrainingSet(sequences, 30, num_items, mask_prob=0.2, seed=1, last_item_prob=0.3)
    batch = data.collate([data[i] for i in range(len(data))])
    hidden = batch.inputs == num_items + 1
    last = batch.mask.sum(dim=1) - 1
    only_last = (hidden.sum(dim=1) == 1) & hidden[torch.arange(len(last)), last]
    assert abs(only_last.float().mean().item() - 0.3) < 0.05
    original = pad_right([s[-30:] for s in sequences])
    assert torch.equal(batch.targets[hidden], original[hidden])
    assert torch.equal(hidden, batch.targets != 0)
    everything = ClozeTrainingSet(sequences, 30, num_items, last_item_prob=1.0)
    batch = everything.collate([everything[i] for i in range(len(everything))])
    assert torch.equal(batch.targets.nonzero()[:, 1], last)


def test_cloze_without_last_item_samples_keeps_the_random_masks() -> None:
    """``last_item_prob=0`` draws nothing extra: the same masks as before the option."""

    def inputs(**options) -> torch.Tensor:
        data = ClozeTrainingSet(SEQUENCES, max_len=8, num_items=9, seed=5, **options)
        return data.collate([data[i] for i in range(len(data))]).inputs

    assert torch.equal(inputs(), inputs(last_item_prob=0.0))
    assert not torch.equal(inputs(), inputs(last_item_prob=1.0))


def test_evaluation_histories_targets_and_exclusions() -> None:
    split = leave_one_out(SEQUENCES)  # users 0 and 3 are evaluated
    valid = EvaluationSet(split, "valid", max_len=4)
    batch = valid.collate([valid[i] for i in range(len(valid))])
    assert batch.users.tolist() == [0, 3]
    assert batch.inputs.tolist() == [[4, 1, 5, 9], [2, 0, 0, 0]]  # last 4 training items
    assert batch.lengths.tolist() == [4, 1]
    assert batch.targets.tolist() == [2, 7]
    # The whole history is excluded (not only the last max_len items)...
    assert sorted(set(batch.exclude[0].tolist()) - {0}) == [1, 3, 4, 5, 9]
    test = EvaluationSet(split, "test", max_len=10)
    batch = test.collate([test[i] for i in range(len(test))])
    assert batch.inputs[0, :7].tolist() == [3, 1, 4, 1, 5, 9, 2]  # training + validation item
    assert batch.targets.tolist() == [6, 1]
    # ...but never the target itself (user 3's target 1 never appears in its history anyway;
    # make it appear, as it can in data with repeats).
    repeat = leave_one_out([np.array([5, 6, 5, 7, 5])])
    batch = EvaluationSet(repeat, "test", 10).collate([EvaluationSet(repeat, "test", 10)[0]])
    assert 5 not in batch.exclude[0].tolist() and 6 in batch.exclude[0].tolist()


def test_evaluation_appends_the_mask_token_for_cloze_models() -> None:
    split = leave_one_out(SEQUENCES)
    data = EvaluationSet(split, "test", max_len=4, mask_token=10)
    batch = data.collate([data[i] for i in range(len(data))])
    assert batch.inputs.tolist() == [[5, 9, 2, 10], [2, 7, 10, 0]]
    last = batch.inputs.gather(1, (batch.lengths - 1)[:, None]).squeeze(1)
    assert last.tolist() == [10, 10]


def test_works_with_a_dataloader() -> None:
    data = CausalTrainingSet(SEQUENCES, max_len=5)
    loader = DataLoader(data, batch_size=2, shuffle=False, collate_fn=data.collate)
    batches = list(loader)
    assert [b.inputs.shape[0] for b in batches] == [2, 1]
    assert batches[0].to("cpu").inputs.dtype == torch.int64


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CausalTrainingSet(SEQUENCES, max_len=0)
    with pytest.raises(ValueError):
        ClozeTrainingSet(SEQUENCES, max_len=5, num_items=9, mask_prob=0.0)
    with pytest.raises(ValueError):
        ClozeTrainingSet(SEQUENCES, max_len=5, num_items=9, last_item_prob=1.5)
    with pytest.raises(ValueError):
        EvaluationSet(leave_one_out(SEQUENCES), "train", max_len=5)  # type: ignore[arg-type]
