"""One sequential recommender, two switches: which attention, which direction.

    attention = "softmax", direction = "causal"         ->  SASRec  (Kang & McAuley, 2018)
    attention = "softmax", direction = "bidirectional"  ->  BERT4Rec (Sun et al., 2019)
    attention = "hydra",   direction = either           ->  HydraRec (Mushtaque, 2025)
    attention = "linear" / "linrec"                     ->  the linear-attention baselines

Everything else is shared, so every comparison changes exactly one thing:

    item ids (batch, n) ──► item embedding + position embedding ──► dropout
                            [+ W · previous item's embedding, with previous_item=True]
        ──► [pre-LayerNorm block: x + Attn(LN(x)),  x + FFN(LN(x))] × layers ──► LayerNorm
        ──► hidden (batch, n, dim) ──► dot product with the same item embedding ──► scores

Item ids run 1..num_items; 0 is padding and ``num_items + 1`` the cloze mask token. Positions
count real tokens from the first one, whatever the padding. ``previous_item=True`` adds the
previous item through a learned, zero-initialised ``dim × dim`` matrix (notebook 06: local
context that Hydra's global sum cannot provide).
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

    Attributes:
        num_items: number of real items; ids are 1..num_items.
        attention: "softmax", "linear", "linrec" or "hydra".
        direction: "causal" (next-item) or "bidirectional" (cloze).
        max_len: longest input sequence (number of position embeddings).
        dim: width of embeddings and hidden states.
        layers: number of transformer blocks.
        heads: attention heads for softmax/linear/LinRec (Hydra always has ``dim`` heads).
        dropout: dropout rate on embeddings, attention output and feed-forward.
        item_bias: add a learned per-item bias to the scores.
        previous_item: add ``W · embedding(item_{t-1})`` to the input of position t (W learned,
            zero-initialised): local context that Hydra's global sum cannot provide.
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
        """Id of the cloze mask token (``batches.mask_token_for``)."""
        return mask_token_for(self.num_items)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> ModelConfig:
        """The config ``to_dict`` gave, also from older results files and checkpoints."""
        # "fused_attention" was a field; the model now takes the fused kernel as an argument
        return cls(**{name: value for name, value in settings.items() if name != "fused_attention"})


def item_scores(hidden: Tensor, weights: Tensor, bias: Tensor | None) -> Tensor:
    """``hidden @ weights.T + bias`` with column 0 (padding) at ``-inf``.

    hidden ``(..., dim)``, weights ``(V, dim)``, bias ``(V,)`` or None -> ``(..., V)``.
    """
    scores = hidden @ weights.T
    if bias is not None:
        scores = scores + bias
    scores[..., 0] = float("-inf")
    return scores


def positions_from_mask(mask: Tensor) -> Tensor:
    """Bool ``(batch, n)`` (True = real) -> long ``(batch, n)``: 0, 1, 2, ... along the real
    tokens, whatever side the padding is on (padding before them gets 0)."""
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
            config.dim,
            config.attention,
            config.causal,
            config.heads,
            config.dropout,
            kernel,
        )
        self.feed_forward_norm = nn.LayerNorm(config.dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.dim, 4 * config.dim),
            nn.GELU(),
            nn.Linear(4 * config.dim, config.dim),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x``: ``(batch, n, dim)``, ``mask``: bool ``(batch, n)`` -> ``(batch, n, dim)``."""
        x = x + self.attention(self.attention_norm(x), mask)
        return x + self.feed_forward(self.feed_forward_norm(x))


class SequentialRecommender(nn.Module):
    """SASRec / BERT4Rec / HydraRec, depending on ``config.attention`` and ``config.direction``.

    Scores are dot products with the (tied) item embedding, so a hidden state and an item that
    point the same way score high. ``score`` returns one column per item id 0..num_items;
    column 0 (padding) is always ``-inf`` so that it is never recommended.

    ``kernel``: optional attention function with the kernel signature that replaces the one of
    ``config.attention`` in every block, e.g. ``fast.fused.fused_hydra_attention``.
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
        """Long ``(batch, n)`` item ids (0 = padding) -> hidden states ``(batch, n, dim)``;
        ``ValueError`` if ``n > max_len``. Causal: the state at t sees ``items[:, :t+1]`` only."""
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
        """``(weights, bias)`` of ``score``: the tied item embedding without the mask token
        ``(num_items + 1, dim)``, and ``(num_items + 1,)`` or None."""
        return self.item_embedding.weight[: self.config.num_items + 1], self.item_bias

    def score(self, hidden: Tensor) -> Tensor:
        """``(..., dim)`` -> ``(..., num_items + 1)``: column i scores item i, column 0 ``-inf``."""
        return item_scores(hidden, *self.output_layer())

    def forward(self, items: Tensor) -> Tensor:
        """Scores at every position: ``(batch, n)`` ids -> ``(batch, n, num_items + 1)``."""
        return self.score(self.encode(items))

    def score_last(self, items: Tensor) -> Tensor:
        """Scores at the last real token of each sequence: the recommendation.

        For a causal model ``items`` is the history; for a bidirectional model it is the
        history followed by the mask token. Works with padding on either side.

        Args:
            items: long ``(batch, n)``.

        Returns:
            ``(batch, num_items + 1)``.
        """
        hidden = self.encode(items)  # (batch, n, dim)
        mask = items != 0
        last = (mask.long() * torch.arange(items.shape[-1], device=items.device)).argmax(dim=-1)
        return self.score(hidden[torch.arange(items.shape[0], device=items.device), last])
