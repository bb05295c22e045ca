"""Screening run: every model with positions counted back from the last real token.

    python results/ml-100k-bidirectional-screening/positions_from_end.py reproduce ...

The package counts positions from the first real token (DESIGN.md: appending an item never
shifts earlier positions, which streaming needs). Here the last token (the [MASK] that asks for
the next item) is always position 0, so "the most recent item" has one embedding for every user.
Not an option of the package: the results files do not record it.
"""

import sys

import torch

import hydrarec_minimal.model as model
from hydrarec_minimal.course.cli import main


def positions_from_end(mask: torch.Tensor) -> torch.Tensor:
    """bool ``(batch, n)``, True = real token -> long ``(batch, n)``: ..., 2, 1, 0 at the end."""
    return (mask.long().flip(-1).cumsum(dim=-1).flip(-1) - 1).clamp(min=0)


model.positions_from_mask = positions_from_end
sys.exit(main(sys.argv[1:]))
