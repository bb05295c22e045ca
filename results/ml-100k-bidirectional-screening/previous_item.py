"""Screening run: every model also sees, at each position, the item one step before it.

    python results/ml-100k-bidirectional-screening/previous_item.py reproduce ...

Bidirectional Hydra attention gives every token the same global sum, so the [MASK] at the end
of a history cannot look up its left neighbour (the most recent item) the way softmax
attention can. Here the input of position t is ``item_t + W · item_{t-1} + position_t``, with
one learned ``dim × dim`` matrix ``W`` (zero-initialised, so training starts from the
package's model) and the previous item's embedding from the same (tied) item table: a short
convolution of width 2 over the items, the way recent linear-attention models add local
context (H3's shift, Based's short convolution). Both models get it, so the comparison still
changes one thing. The screening runs were made with this script, before the package had the
same model as an option (``--previous-item``, ``ModelConfig.previous_item``, which adds the
three terms in another order); their results files do not record it.
"""

import sys

import torch
from torch import Tensor, nn

import hydrarec_minimal.model as model
from hydrarec_minimal.cli import main

build = model.SequentialRecommender.__init__
item_and_position = model.SequentialRecommender.encode


def build_with_previous_item(self: model.SequentialRecommender, config: model.ModelConfig) -> None:
    build(self, config)
    self.previous_item = nn.Linear(config.dim, config.dim, bias=False)
    nn.init.zeros_(self.previous_item.weight)


class _PreviousItemEmbedding(nn.Module):
    """Item embedding ``(batch, n) -> (batch, n, dim)`` plus ``W ·`` the previous item's."""

    def __init__(self, table: nn.Embedding, previous_item: nn.Linear) -> None:
        super().__init__()
        self.table, self.previous_item = table, previous_item

    def forward(self, items: Tensor) -> Tensor:
        previous = torch.nn.functional.pad(items[:, :-1], (1, 0))  # 0 (padding) before the first
        return self.table(items) + self.previous_item(self.table(previous))


def encode_with_previous_item(self: model.SequentialRecommender, items: Tensor) -> Tensor:
    """``encode`` with the item embedding swapped for ``_PreviousItemEmbedding`` for one call."""
    # An instance attribute shadows the registered module until it is deleted again.
    self.__dict__["item_embedding"] = _PreviousItemEmbedding(
        self._modules["item_embedding"], self.previous_item
    )
    try:
        return item_and_position(self, items)
    finally:
        del self.__dict__["item_embedding"]


model.SequentialRecommender.__init__ = build_with_previous_item
model.SequentialRecommender.encode = encode_with_previous_item
sys.exit(main(sys.argv[1:]))
