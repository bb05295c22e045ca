"""One sequential recommender, two switches: which attention, which direction.

attention "softmax" + causal = SASRec (Kang & McAuley, 2018); "softmax" + bidirectional =
BERT4Rec (Sun et al., 2019); "hydra" = HydraRec (Mushtaque, 2025); "linear" / "linrec": the
linear-attention baselines. Everything else is shared: item + position embedding -> dropout ->
pre-LayerNorm blocks -> LayerNorm -> dot product with the same item embedding = scores.
Item ids run 1..num_items; 0 is padding, ``num_items + 1`` the cloze mask token.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hydrarec_minimal.attention import ATTENTION_KERNELS, AttentionKernel, SelfAttention
from hydrarec_minimal.batches import mask_token_for

DIRECTIONS = ("causal", "bidirectional")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model (stored in every checkpoint).

    ``max_len``: longest input (position embeddings); ``heads``: for softmax, linear, LinRec;
    ``item_bias``: a learned per-item score bias; ``previous_item``: add ``W · embedding(item
    at t - 1)`` to position t (W learned, zero-initialised). ``ValueError`` for bad values.
    """

    num_items: int
    attention: str = "hydra"
    direction: str = "causal"
    max_len: int = 200
    dim: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.2
    item_bias: bool = False
    previous_item: bool = False

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_KERNELS:
            raise ValueError(
                f"unknown attention {self.attention!r}; choose one of {sorted(ATTENTION_KERNELS)}"
            )
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}; choose one of {DIRECTIONS}")
        for name in ("num_items", "max_len", "dim", "layers", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")

    @property
    def causal(self) -> bool:
        return self.direction == "causal"

    @property
    def mask_token(self) -> int:
        return mask_token_for(self.num_items)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> ModelConfig:
        """The config ``to_dict`` gave, also from older files (with a "fused_attention" key)."""
        return cls(**{name: value for name, value in settings.items() if name != "fused_attention"})


def item_scores(hidden: Tensor, weights: Tensor, bias: Tensor | None) -> Tensor:
    """``hidden @ weights.T + bias`` ``(..., V)``, column 0 (padding) at ``-inf``."""
    scores = hidden @ weights.T
    if bias is not None:
        scores = scores + bias
    scores[..., 0] = float("-inf")
    return scores


def positions_from_mask(mask: Tensor) -> Tensor:
    """Bool ``(batch, n)`` (True = real) -> long: 0, 1, 2, ... along the real tokens."""
    return (mask.long().cumsum(dim=-1) - 1).clamp(min=0)


def previous_items(items: Tensor) -> Tensor:
    """Each token's left neighbour, 0 first: ``[[0, 5, 7, 9]] -> [[0, 0, 5, 7]]``."""
    return F.pad(items[:, :-1], (1, 0))


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block: ``x + Attn(LN(x))`` then ``x + FFN(LN(x))``."""

    def __init__(self, config: ModelConfig, kernel: AttentionKernel | None = None) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.dim)
        self.attention = SelfAttention(
            config.dim, config.attention, config.causal, config.heads, config.dropout, kernel
        )
        self.feed_forward_norm = nn.LayerNorm(config.dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.dim, 4 * config.dim),
            nn.GELU(),
            nn.Linear(4 * config.dim, config.dim),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.attention(self.attention_norm(x), mask)
        return x + self.feed_forward(self.feed_forward_norm(x))


class SequentialRecommender(nn.Module):
    """SASRec / BERT4Rec / HydraRec, depending on ``config``.

    Scores: one column per item id 0..num_items (column 0 always ``-inf``). ``kernel`` replaces
    ``config.attention``'s kernel in every block (e.g. ``fast.fused.fused_hydra_attention``).
    """

    def __init__(self, config: ModelConfig, kernel: AttentionKernel | None = None) -> None:
        super().__init__()
        self.config = config
        self.item_embedding = nn.Embedding(config.mask_token + 1, config.dim, padding_idx=0)
        self.position_embedding = nn.Embedding(config.max_len, config.dim)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(config, kernel) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.dim)
        self.item_bias = (
            nn.Parameter(torch.zeros(config.num_items + 1)) if config.item_bias else None
        )
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        self.previous_item = None
        if config.previous_item:
            self.previous_item = nn.Linear(config.dim, config.dim, bias=False)
            nn.init.zeros_(self.previous_item.weight)  # training starts from the plain model

    def encode(self, items: Tensor) -> Tensor:
        """Long ``(batch, n)`` item ids -> hidden states ``(batch, n, dim)`` (causal: state t sees
        ``items[:, :t+1]`` only); ``ValueError`` if ``n > max_len``."""
        if items.shape[-1] > self.config.max_len:
            raise ValueError(
                f"sequence length {items.shape[-1]} exceeds max_len={self.config.max_len}; "
                "keep the most recent max_len items"
            )
        mask = items != 0
        x = self.item_embedding(items) + self.position_embedding(positions_from_mask(mask))
        if self.previous_item is not None:
            x = x + self.previous_item(self.item_embedding(previous_items(items)))
        x = self.embedding_dropout(x)
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)

    def output_layer(self) -> tuple[Tensor, Tensor | None]:
        """``(weights, bias)`` of ``score``: ``(num_items + 1, dim)``, ``(num_items + 1,)``/None."""
        return self.item_embedding.weight[: self.config.num_items + 1], self.item_bias

    def score(self, hidden: Tensor) -> Tensor:
        """``(..., dim)`` -> ``(..., num_items + 1)``."""
        return item_scores(hidden, *self.output_layer())

    def forward(self, items: Tensor) -> Tensor:
        """Scores at every position: ``(batch, n)`` ids -> ``(batch, n, num_items + 1)``."""
        return self.score(self.encode(items))

    def score_last(self, items: Tensor) -> Tensor:
        """Scores ``(batch, num_items + 1)`` at the last real token of ``items`` ``(batch, n)``
        (a cloze model: the history, then the mask token); padding on either side."""
        hidden = self.encode(items)
        mask = items != 0
        last = (mask.long() * torch.arange(items.shape[-1], device=items.device)).argmax(dim=-1)
        return self.score(hidden[torch.arange(items.shape[0], device=items.device), last])
