"""Test helper: how large the tensors are that a computation builds along the way."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class RecordLargestIntermediate(TorchDispatchMode):
    """Remembers the largest number of elements of any tensor an operation produced."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out
