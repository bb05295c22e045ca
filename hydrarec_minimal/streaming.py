"""Streaming recommendations with causal HydraRec: one step per new interaction, constant cost.

In causal Hydra attention the output at position t is q̂_t ⊙ c_t with c_t = Σ_{s≤t} k̂_s ⊙ v_s.
Everything else in the model (embeddings, LayerNorm, projections, feed-forward) works on one
token at a time. So a user's whole history is summarised, exactly, by

    one running sum c (dim numbers) per layer  +  the number of items seen so far,

and a new interaction updates it with the same work whatever the history length:

    state = start_state(model, batch_size)
    for items in interactions:                 # items: (batch,) the next item of each user
        state, scores = step(model, state, items)   # scores: (batch, num_items + 1)

The scores equal those of ``model.score_last`` on the whole history (tests check every prefix).
For one user a step is some forty tiny operations, mostly PyTorch's per-operation overhead;
``compile_step(model)`` returns the same step compiled ahead of time into one program
(``compiled.CompiledInference``), several times faster, for serving.

Past ``max_len``: the full model only ever sees the last ``max_len`` items, which a running sum
cannot forget. The streaming model keeps summing over the whole history and reuses the last
position embedding (position ``max_len - 1``) for every later item. That is exactly the full
forward pass of the same model with its position table extended by repeating the last row
(tested); it is a different model from the truncated one, so its recommendations past
``max_len`` differ from ``score_last`` on the truncated history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from hydrarec_minimal.attention import EPS
from hydrarec_minimal.fast.compiled import CompiledInference
from hydrarec_minimal.model import SequentialRecommender
from hydrarec_minimal.outputs import atomic_write


@dataclass
class StreamState:
    """What a causal HydraRec model remembers about each user.

    Attributes:
        sums: ``(layers, batch, dim)``: Σ k̂_s ⊙ v_s over the user's items, per layer.
        seen: long ``(batch,)``: number of items seen so far (the next item's position).
    """

    sums: Tensor
    seen: Tensor

    def save(self, path: str | Path) -> None:
        """Write the state to ``path``, atomically (restore with ``StreamState.load``)."""
        with atomic_write(path) as file:
            torch.save({"sums": self.sums.cpu(), "seen": self.seen.cpu()}, file)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> StreamState:
        payload = torch.load(path, map_location=device, weights_only=True)
        return cls(sums=payload["sums"], seen=payload["seen"])


def check_streamable(model: SequentialRecommender) -> None:
    """Only causal Hydra models without ``previous_item`` can stream: ``ValueError`` otherwise."""
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
    parameter = next(model.parameters())
    sums = parameter.new_zeros(model.config.layers, batch_size, model.config.dim)
    return StreamState(
        sums=sums, seen=torch.zeros(batch_size, dtype=torch.long, device=sums.device)
    )


def check_step_inputs(model: SequentialRecommender, state: StreamState, items: Tensor) -> None:
    """Raise ``ValueError`` unless ``items`` (long ``(batch,)``) can advance ``state``."""
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
    """The arithmetic of one step, on plain tensors and without checks (``step`` checks).

    Args:
        model: a causal Hydra model in evaluation mode.
        sums: ``(layers, batch, dim)``; seen: long ``(batch,)``; items: long ``(batch,)``.

    Returns:
        ``(new sums, new seen, scores)``: ``(layers, batch, dim)``, ``(batch,)`` and
        ``(batch, num_items + 1)``.
    """
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
    """Add one interaction per user and return the new recommendation scores.

    Runs under ``torch.inference_mode`` (no autograd bookkeeping at all, which matters when a
    step is some forty small operations): the new state and the scores are inference tensors,
    for reading, saving and passing to the next ``step``, not for training or in-place edits.

    Args:
        model: a causal Hydra ``SequentialRecommender`` (evaluation mode: no dropout).
        state: the users' current state (not modified).
        items: long ``(batch,)``: each user's new item id, in 1..num_items.

    Returns:
        ``(new state, scores)``, scores ``(batch, num_items + 1)`` as from ``score_last``.
    """
    check_step_inputs(model, state, items)
    sums, seen, scores = advance(model, state.sums, state.seen, items)
    return StreamState(sums=sums, seen=seen), scores


def compile_step(
    model: SequentialRecommender, *, autotune: bool = True
) -> Callable[[StreamState, Tensor], tuple[StreamState, Tensor]]:
    """``step`` for this model as one compiled program: same arguments, same results, faster.

    For one user an eager step is almost all per-operation overhead (~0.3 ms on two CPU
    cores); compiled (``compiled.CompiledInference``: fused kernels, frozen weights, autotuned
    small matrix products) it is several times faster. The first call at each batch size
    compiles (tens of seconds with ``autotune``) and copies the weights it folds, so compile
    after training, and again after any change to them. Where compiling cannot work, and for
    a model off the CPU (``compiled.py`` says why), it warns and runs ``step``'s eager
    arithmetic.

        fast_step = compile_step(model)
        state, scores = fast_step(state, items)     # as step(model, state, items)

    Returns:
        ``fast_step(state, items) -> (new state, scores)``, checking its inputs as ``step``
        does; scores equal ``step``'s to float32 roundoff (fused kernels add in another order).
    """
    check_streamable(model)
    program = CompiledInference(partial(advance, model), autotune=autotune)

    def fast_step(state: StreamState, items: Tensor) -> tuple[StreamState, Tensor]:
        check_step_inputs(model, state, items)
        # a program is compiled for its inputs' memory layout: a column of a batch of
        # histories (strided) is made contiguous, to use the same program as other items
        sums, seen, scores = program(state.sums, state.seen, items.contiguous())
        return StreamState(sums=sums, seen=seen), scores

    fast_step.compiled = program  # its .programs: one per batch size (and layout) compiled
    return fast_step
