"""Streaming recommendations with causal HydraRec: one step per new interaction, constant cost.

A causal Hydra model sees the past only through each layer's running sum Σ_{s≤t} k̂_s ⊙ v_s,
so a user's history is summarised, exactly, by one sum per layer and the number of items seen:

    state = start_state(model, batch_size)
    for items in interactions:                      # items: (batch,) each user's next item
        state, scores = step(model, state, items)   # scores: (batch, num_items + 1)

The scores equal ``model.score_last`` on the whole history. Past ``max_len`` the sum goes on
and every later item gets the last position embedding (the full model with its position table
extended by its last row, not the truncated model). ``fast.compiled.compile_step`` compiles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from hydrarec_minimal.attention import EPS
from hydrarec_minimal.checkpoint import atomic_write
from hydrarec_minimal.model import SequentialRecommender


@dataclass
class StreamState:
    """``sums`` ``(layers, batch, dim)``: Σ k̂_s ⊙ v_s per layer; ``seen`` long ``(batch,)``:
    items seen so far (the next item's position)."""

    sums: Tensor
    seen: Tensor

    def save(self, path: str | Path) -> None:
        with atomic_write(path) as file:
            torch.save({"sums": self.sums.cpu(), "seen": self.seen.cpu()}, file)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> StreamState:
        payload = torch.load(path, map_location=device, weights_only=True)
        return cls(sums=payload["sums"], seen=payload["seen"])


def check_streamable(model: SequentialRecommender) -> None:
    """``ValueError`` unless ``model`` is causal Hydra without ``previous_item``."""
    config = model.config
    if config.attention != "hydra" or config.direction != "causal":
        raise ValueError(
            "streaming needs a causal hydra model; got "
            f"attention={config.attention!r}, direction={config.direction!r}"
        )
    if config.previous_item:
        raise ValueError(
            "streaming does not support previous_item models (the state would also have to "
            "keep each user's last item)"
        )


def start_state(model: SequentialRecommender, batch_size: int) -> StreamState:
    """The state of ``batch_size`` users with no history yet."""
    check_streamable(model)
    sums = next(model.parameters()).new_zeros(model.config.layers, batch_size, model.config.dim)
    return StreamState(sums, torch.zeros(batch_size, dtype=torch.long, device=sums.device))


def check_step_inputs(model: SequentialRecommender, state: StreamState, items: Tensor) -> None:
    """``ValueError`` unless ``items`` (long ``(batch,)``) can advance ``state``."""
    check_streamable(model)
    if items.shape != state.seen.shape:
        raise ValueError(
            f"items must have shape (batch,) = {tuple(state.seen.shape)}; got {tuple(items.shape)}"
        )
    lowest, highest = torch.aminmax(items)
    if lowest.item() < 1 or highest.item() > model.config.num_items:
        raise ValueError(f"item ids must be in 1..{model.config.num_items}")
    if model.training:
        raise ValueError("call model.eval() first: dropout would make streaming inexact")


def advance(
    model: SequentialRecommender, sums: Tensor, seen: Tensor, items: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One step on plain tensors, without checks: ``(new sums, new seen, scores)``."""
    positions = seen.clamp(max=model.config.max_len - 1)
    x = model.item_embedding(items) + model.position_embedding(positions)  # (batch, dim)
    new_sums = []
    for block, old_sum in zip(model.blocks, sums, strict=True):
        layer = block.attention
        q, k, v = layer.to_qkv(block.attention_norm(x)).chunk(3, dim=-1)
        running = old_sum + F.normalize(k, dim=-1, eps=EPS) * v  # (batch, dim)
        x = x + layer.to_out(F.normalize(q, dim=-1, eps=EPS) * running)
        x = x + block.feed_forward(block.feed_forward_norm(x))
        new_sums.append(running)
    scores = model.score(model.final_norm(x))
    return torch.stack(new_sums), seen + 1, scores


@torch.inference_mode()
def step(
    model: SequentialRecommender, state: StreamState, items: Tensor
) -> tuple[StreamState, Tensor]:
    """Add one item (long ``(batch,)``, 1..num_items) per user: ``(new state, scores)``.

    ``model``: causal Hydra in eval mode; the results are inference tensors (not to train on).
    """
    check_step_inputs(model, state, items)
    sums, seen, scores = advance(model, state.sums, state.seen, items)
    return StreamState(sums=sums, seen=seen), scores
