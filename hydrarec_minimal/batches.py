"""PyTorch datasets and collate functions: causal training, cloze training, evaluation.

Conventions shared by every batch (B = batch size, T = the longest sequence in the batch, at
most ``max_len``):

- **Right padding.** Real items fill slots 0..length-1, padding (id 0) fills the rest. With a
  maximum length L, a longer history keeps its *last* L items (its most recent ones).
- **Slots anchored at the start.** Appending an item to a history shorter than L never
  changes the slot of an earlier item, so neither does the position the model gives it
  (``model.positions_from_mask`` counts real tokens from the first one), which is what a
  causal model with a running state needs. (A history longer than L slides: its oldest item
  drops out and the positions restart at its new first item.)
- ``mask``: True on real items, False on padding (the convention of ``hydra_attention``).

Usage::

    train = CausalTrainingSet(dataset.split.train, max_len=50)
    loader = DataLoader(train, batch_size=128, shuffle=True, collate_fn=train.collate)
    for batch in loader:                 # TrainBatch
        logits = model(batch.inputs)     # (B, T, num_items + 1); padding (id 0) is the mask
        loss = F.cross_entropy(logits.transpose(1, 2), batch.targets, ignore_index=0)

Keep ``num_workers=0`` for ``ClozeTrainingSet`` (its masks come from its own seeded generator,
which worker processes would copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset

from hydrarec_minimal.sequences import PAD, LeaveOneOutSplit, Stage

_Batch = TypeVar("_Batch", bound="_TensorFields")


class _TensorFields:
    """``to(device)`` for a dataclass whose fields are all tensors."""

    def to(self: _Batch, device: torch.device | str) -> _Batch:
        return type(self)(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass(eq=False)
class TrainBatch(_TensorFields):
    """A training batch (causal or cloze). All tensors have shape (B, T).

    ``inputs``: int64 item ids (0 = padding; cloze: ``mask_token`` where masked).
    ``targets``: int64 item to predict at each slot, 0 where there is nothing to predict (use
    ``ignore_index=0``). ``mask``: bool, True = real item.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor


@dataclass(eq=False)
class EvalBatch(_TensorFields):
    """An evaluation batch: rank every item for each user, read the model at ``lengths - 1``.

    ``users``: (B,) user indices. ``inputs``, ``mask``: (B, T) as in
    ``TrainBatch`` (cloze: the last real slot is the mask token). ``lengths``: (B,) real slots.
    ``targets``: (B,) the held-out item. ``exclude``: (B, H) int64 ids of every item in the
    user's full input history (not only the last L), 0-padded, never the target: set their
    scores to -inf before ranking (``scores.scatter_(1, exclude, -inf)``; column 0 is padding).
    """

    users: torch.Tensor
    inputs: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    exclude: torch.Tensor


def pad_right(sequences: Sequence[np.ndarray], width: int | None = None) -> torch.Tensor:
    """Stack 1-D int arrays into a (B, width) int64 tensor, 0-padded on the right.

    ``width`` defaults to the longest sequence; longer sequences must be cut before.
    """
    width = max((len(s) for s in sequences), default=0) if width is None else width
    out = torch.zeros(len(sequences), width, dtype=torch.int64)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.as_tensor(np.asarray(sequence, dtype=np.int64))
    return out


class CausalTrainingSet(Dataset):
    """Next-item training: inputs = items[:-1], targets = items[1:], every position trained.

    Each example is the user's last ``max_len + 1`` training items, so inputs and targets have
    at most ``max_len`` slots. Users with fewer than 2 training items have nothing to learn
    from and are left out (``users`` lists the ones kept).
    """

    def __init__(self, sequences: Sequence[np.ndarray], max_len: int) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.max_len = max_len
        self.users = [u for u, s in enumerate(sequences) if len(s) >= 2]
        self.sequences = sequences

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, index: int) -> np.ndarray:
        """Shape (n,), n <= max_len + 1: the most recent training items of one user."""
        return self.sequences[self.users[index]][-(self.max_len + 1) :]

    def collate(self, examples: Sequence[np.ndarray]) -> TrainBatch:
        """(B, T) inputs, targets (inputs shifted by one) and mask."""
        inputs = pad_right([e[:-1] for e in examples])
        targets = pad_right([e[1:] for e in examples])
        mask = inputs != PAD
        return TrainBatch(inputs, targets, mask)


class ClozeTrainingSet(Dataset):
    """BERT4Rec training: hide random items behind the mask token and predict them.

    Each example is the user's last ``max_len`` training items. In ``collate`` every real item
    is replaced by ``mask_token`` (= num_items + 1) with probability ``mask_prob``, always by the
    mask token (no random or kept replacements); a sequence with no masked item gets one masked
    at a uniformly chosen slot, so every sequence contributes. Then, with probability
    ``last_item_prob``, a sequence instead has only its last item hidden: BERT4Rec's extra
    "mask the last item" samples, which train exactly the task of the evaluation (predict the
    item after the history). ``targets`` hold the hidden items at masked slots and 0 elsewhere.
    Masks are drawn from a generator seeded with ``seed`` (the last-item draw only when
    ``last_item_prob > 0``, so that 0 gives the masks of plain random masking).
    Users with fewer than 2 training items are left out.
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
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        if not 0.0 < mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in (0, 1], got {mask_prob}")
        if not 0.0 <= last_item_prob <= 1.0:
            raise ValueError(f"last_item_prob must be in [0, 1], got {last_item_prob}")
        self.max_len = max_len
        self.mask_token = num_items + 1
        self.mask_prob = mask_prob
        self.last_item_prob = last_item_prob
        self.generator = torch.Generator().manual_seed(seed)
        self.users = [u for u, s in enumerate(sequences) if len(s) >= 2]
        self.sequences = sequences

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, index: int) -> np.ndarray:
        """Shape (n,), n <= max_len: the most recent training items of one user."""
        return self.sequences[self.users[index]][-self.max_len :]

    def collate(self, examples: Sequence[np.ndarray]) -> TrainBatch:
        """(B, T) masked inputs, targets (0 = not masked), positions and mask."""
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
    """Validation or test examples of every evaluated user (``split.eval_users``).

    Input history: the training items (``stage="valid"``), or the training items plus the
    validation item (``stage="test"``); the last ``max_len`` are fed to the model. With
    ``mask_token`` given (cloze models), the last ``max_len - 1`` are fed, followed by the mask
    token, whose output predicts the target.
    """

    def __init__(
        self,
        split: LeaveOneOutSplit,
        stage: Stage,
        max_len: int,
        mask_token: int | None = None,
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
        """(user index, full input history of shape (n,), target item)."""
        user = int(self.users[index])
        return user, self.split.history(user, self.stage), self.split.target(user, self.stage)

    def collate(self, examples: Sequence[tuple[int, np.ndarray, int]]) -> EvalBatch:
        """See ``EvalBatch`` for the shapes."""
        windows = []
        for _, history, _ in examples:
            if self.mask_token is None:
                windows.append(history[-self.max_len :])
            else:
                windows.append(np.append(history[-(self.max_len - 1) :], self.mask_token))
        inputs = pad_right(windows)
        mask = inputs != PAD
        exclude = pad_right([h[h != target] for _, h, target in examples])
        return EvalBatch(
            users=torch.tensor([user for user, _, _ in examples], dtype=torch.int64),
            inputs=inputs,
            mask=mask,
            lengths=mask.sum(dim=1),
            targets=torch.tensor([target for _, _, target in examples], dtype=torch.int64),
            exclude=exclude,
        )
