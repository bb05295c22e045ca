"""PyTorch datasets and collate functions: causal training, cloze training, evaluation.

Every batch is right-padded (``PAD`` = 0 after the real items); a history longer than
``max_len`` keeps its last ``max_len`` items. ``mask``: True on real items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

if TYPE_CHECKING:
    from hydrarec_minimal.data import LeaveOneOutSplit, SequenceDataset
    from hydrarec_minimal.model import ModelConfig
    from hydrarec_minimal.train import TrainConfig

PAD = 0

Stage = Literal["valid", "test"]
_Batch = TypeVar("_Batch", bound="_TensorFields")


def mask_token_for(num_items: int) -> int:
    """The cloze mask id, one past the last item."""
    return num_items + 1


def check_range(name: str, value: float, low: float, high: float, *, open_low=False) -> None:
    """``ValueError`` unless ``low <= value <= high`` (``low < value`` with ``open_low``)."""
    if not (low < value if open_low else low <= value) or value > high:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be in {interval}; got {value}")


class _TensorFields:
    """``to(device)`` for a dataclass whose fields are all tensors."""

    def to(self: _Batch, device: torch.device | str) -> _Batch:
        return type(self)(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass(eq=False)
class TrainBatch(_TensorFields):
    """(B, T) each: ``inputs`` (cloze: ``mask_token`` where hidden), ``targets`` (0: nothing
    to predict), ``mask``."""

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor


@dataclass(eq=False)
class EvalBatch(_TensorFields):
    """``users``, ``lengths``, ``targets``: (B,); ``inputs``, ``mask``: (B, T) (cloze: the mask
    token last); ``exclude``: (B, H) the input history but the target, 0-padded."""

    users: torch.Tensor
    inputs: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    exclude: torch.Tensor


def pad_right(sequences: Sequence[np.ndarray], width: int | None = None) -> torch.Tensor:
    """Stack 1-D int arrays into a (B, width) int64 tensor, 0-padded on the right."""
    width = max((len(s) for s in sequences), default=0) if width is None else width
    out = torch.zeros(len(sequences), width, dtype=torch.int64)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.as_tensor(np.asarray(sequence, dtype=np.int64))
    return out


def model_input(history: np.ndarray, max_len: int, mask_token: int | None = None) -> np.ndarray:
    """The last ``max_len`` items of ``history``, or (cloze) ``max_len - 1`` and ``mask_token``."""
    if mask_token is None:
        return np.asarray(history[-max_len:], dtype=np.int64)
    return np.append(history[max(len(history) - max_len + 1, 0) :], mask_token).astype(np.int64)


class _TrainingSet(Dataset):
    """Users with at least 2 training items; an example is their last ``window`` items."""

    def __init__(self, sequences: Sequence[np.ndarray], max_len: int, window: int) -> None:
        check_range("max_len", max_len, 1, float("inf"))
        self.max_len = max_len
        self.window = window
        self.users = [u for u, s in enumerate(sequences) if len(s) >= 2]
        self.sequences = sequences

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.sequences[self.users[index]][-self.window :]


class CausalTrainingSet(_TrainingSet):
    """Next-item training on each user's last ``max_len + 1`` items: inputs = items[:-1],
    targets = items[1:]."""

    def __init__(self, sequences: Sequence[np.ndarray], max_len: int) -> None:
        super().__init__(sequences, max_len, window=max_len + 1)

    def collate(self, examples: Sequence[np.ndarray]) -> TrainBatch:
        inputs = pad_right([e[:-1] for e in examples])
        return TrainBatch(inputs, pad_right([e[1:] for e in examples]), inputs != PAD)


class ClozeTrainingSet(_TrainingSet):
    """BERT4Rec training on each user's last ``max_len`` items: each is hidden behind the mask
    token with probability ``mask_prob`` (at least one per sequence), or, with probability
    ``last_item_prob``, only the last one. Seeded: use ``num_workers=0``.
    """

    def __init__(
        self,
        sequences: Sequence[np.ndarray],
        max_len: int,
        num_items: int,
        mask_prob: float = 0.2,
        seed: int = 0,
        last_item_prob: float = 0.0,
    ) -> None:
        super().__init__(sequences, max_len, window=max_len)
        check_range("mask_prob", mask_prob, 0, 1, open_low=True)
        check_range("last_item_prob", last_item_prob, 0, 1)
        self.mask_token = mask_token_for(num_items)
        self.mask_prob = mask_prob
        self.last_item_prob = last_item_prob
        self.generator = torch.Generator().manual_seed(seed)

    def collate(self, examples: Sequence[np.ndarray]) -> TrainBatch:
        items = pad_right(examples)
        mask = items != PAD
        hidden = (torch.rand(items.shape, generator=self.generator) < self.mask_prob) & mask
        for row in (~hidden.any(dim=1)).nonzero().flatten().tolist():
            length = int(mask[row].sum())
            hidden[row, int(torch.randint(length, (1,), generator=self.generator))] = True
        if self.last_item_prob > 0:
            only_last = torch.zeros_like(hidden)
            only_last[torch.arange(len(items)), mask.sum(dim=1) - 1] = True  # pad_right: last real
            chosen = torch.rand(len(items), generator=self.generator) < self.last_item_prob
            hidden = torch.where(chosen.unsqueeze(1), only_last, hidden)
        inputs = torch.where(hidden, torch.full_like(items, self.mask_token), items)
        targets = torch.where(hidden, items, torch.zeros_like(items))
        return TrainBatch(inputs, targets, mask)


class EvaluationSet(Dataset):
    """Validation or test examples of ``split.eval_users`` (cloze: with ``mask_token``)."""

    def __init__(
        self, split: LeaveOneOutSplit, stage: Stage, max_len: int, mask_token: int | None = None
    ) -> None:
        if stage not in ("valid", "test"):
            raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")
        if max_len < (2 if mask_token is not None else 1):
            raise ValueError(f"max_len too small: {max_len}")
        self.split = split
        self.stage: Stage = stage
        self.max_len = max_len
        self.mask_token = mask_token
        self.users = split.eval_users

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray, int]:
        user = int(self.users[index])
        return user, self.split.history(user, self.stage), self.split.target(user, self.stage)

    def collate(self, examples: Sequence[tuple[int, np.ndarray, int]]) -> EvalBatch:
        users, histories, targets = zip(*examples, strict=True)
        inputs = pad_right([model_input(h, self.max_len, self.mask_token) for h in histories])
        exclude = pad_right([h[h != target] for h, target in zip(histories, targets, strict=True)])
        mask = inputs != PAD
        users, targets = (torch.tensor(x, dtype=torch.int64) for x in (users, targets))
        return EvalBatch(users, inputs, mask, mask.sum(dim=1), targets, exclude)


def training_batches(
    dataset: SequenceDataset, model_config: ModelConfig, train_config: TrainConfig
) -> DataLoader:
    """Shuffled, seeded training batches: next-item (causal) or cloze (bidirectional)."""
    if model_config.causal:
        examples = CausalTrainingSet(dataset.split.train, model_config.max_len)
    else:
        examples = ClozeTrainingSet(
            dataset.split.train,
            model_config.max_len,
            dataset.num_items,
            train_config.mask_prob,
            seed=train_config.seed,
            last_item_prob=train_config.last_item_prob,
        )
    seeded = torch.Generator().manual_seed(train_config.seed)
    size = train_config.batch_size
    return DataLoader(examples, size, shuffle=True, generator=seeded, collate_fn=examples.collate)


def evaluation_batches(
    dataset: SequenceDataset, stage: Stage, config: ModelConfig, batch_size: int = 256
) -> DataLoader:
    """Validation or test batches (``EvalBatch``) for a model with this config."""
    mask_token = None if config.causal else config.mask_token
    examples = EvaluationSet(dataset.split, stage, config.max_len, mask_token)
    return DataLoader(examples, batch_size=batch_size, collate_fn=examples.collate)
