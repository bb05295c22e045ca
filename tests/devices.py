"""Markers for tests that need a device this machine may lack (CI has no GPU)."""

from __future__ import annotations

import pytest
import torch

#: Skips a test (or a parameter) where no CUDA GPU is present.
NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
