"""Hydra attention fused by ``torch.compile``: replaces ``attention.hydra_attention``.

The formula of ``hydra_attention`` (its causal prefix sum in blocks, ``blocked_prefix_sum``),
compiled; autograd derives the backward pass and inductor fuses both into a few loops. Same
arguments and results (up to float rounding), mostly faster for causal attention:

    from hydrarec_minimal.fast.fused import fused_hydra_attention
    out = fused_hydra_attention(q, k, v, causal=True, mask=mask)   # as hydra_attention

    model = SequentialRecommender(config, kernel=fused_hydra_attention)

Each new shape or kind of call (gradients or not, causal or not, mask or not, dtype, device)
compiles first, for seconds (up to ``MAX_SHAPES`` shapes). Where compiling is impossible (no
C++ compiler, an unsupported platform) the first call warns and every call runs
``hydra_attention``; ``fallback_reason`` says why. Under CUDA mixed precision q, k, v are
cast to float32 first, as ``hydra_attention`` does.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from hydrarec_minimal.attention import EPS, check_attention_inputs, hydra_attention, zero_padding
from hydrarec_minimal.fast.backward import SCAN_BLOCK
from hydrarec_minimal.fast.toolchain import import_compiler_quietly

#: ``None`` while compiling works; else why the calls run ``hydra_attention`` instead.
fallback_reason: str | None = None

#: Levels of blocks in the compiled causal prefix sum (``blocked_prefix_sum``).
PREFIX_LEVELS = 2


def blocked_prefix_sum(x: Tensor, block: int = SCAN_BLOCK, levels: int = PREFIX_LEVELS) -> Tensor:
    """``x.cumsum(-2)`` as out-of-place operations a compiler fuses, in blocks of ``block`` tokens.

    A running sum inside every block, then the block totals prefix-summed (by this function
    again, ``levels - 1`` times, then ``cumsum``) and added to the blocks after them. No sum
    involves a later token, even through rounding.

    Args:
        x: ``(..., n, d)``.
        block: tokens per block.
        levels: how many times blocks are formed (1: the block totals go straight to ``cumsum``).

    Returns:
        ``(..., n, d)``; ``ValueError`` if ``block`` or ``levels`` is below 1.
    """
    if block < 1 or levels < 1:
        raise ValueError(f"block and levels must be at least 1, got {block} and {levels}")
    n = x.shape[-2]
    blocks = F.pad(x, (0, 0, 0, (-n) % block)).unflatten(-2, (-1, block))  # (..., n/b, b, d)
    running = [blocks[..., 0, :]]
    for slot in range(1, block):
        running.append(running[-1] + blocks[..., slot, :])
    inside = torch.stack(running, dim=-2)  # (..., n/b, b, d): sums within each block
    previous = F.pad(running[-1][..., :-1, :], (0, 0, 1, 0))  # (..., n/b, d): block i-1's total
    if levels > 1:
        before = blocked_prefix_sum(previous, block, levels - 1)  # Σ of the blocks before i
    else:
        before = previous.cumsum(dim=-2)
    return (inside + before.unsqueeze(-2)).flatten(-3, -2)[..., :n, :]


def hydra_formula(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool,
    mask: Tensor | None,
    levels: int = PREFIX_LEVELS,
) -> Tensor:
    """``attention.hydra_attention``'s formula with ``blocked_prefix_sum``: what is compiled.

    Args:
        q, k, v: ``(..., n, d)``; mask: ``None`` or bool ``(..., n)``, True = real token.
        levels: levels of blocks in the causal prefix sum.
    """
    q_hat = F.normalize(q, dim=-1, eps=EPS)
    k_hat = F.normalize(k, dim=-1, eps=EPS)
    kv = zero_padding(k_hat * v, mask)  # (..., n, d)
    context = blocked_prefix_sum(kv, levels=levels) if causal else kv.sum(dim=-2, keepdim=True)
    return zero_padding(q_hat * context, mask)


#: Compiled graphs kept for ``hydra_formula`` (torch's default, 8, counts every model and
#: shape in a process; past the limit the formula runs uncompiled).
MAX_SHAPES = 64

compiled_formula = torch.compile(hydra_formula, dynamic=False)


def fused_hydra_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """``attention.hydra_attention`` (same arguments, shapes and errors, checked before
    compiling), compiled; float32 under CUDA mixed precision."""
    global fallback_reason
    check_attention_inputs(q, k, v, mask)
    if q.device.type == "cuda" and torch.is_autocast_enabled("cuda"):
        q, k, v = (x.float() for x in (q, k, v))  # the running sum in float32
    if fallback_reason is None:
        try:
            import_compiler_quietly()
            with torch._dynamo.config.patch(recompile_limit=MAX_SHAPES):
                return compiled_formula(q, k, v, causal, mask)
        except Exception as error:  # the inputs were checked: the compiler failed
            fallback_reason = f"{type(error).__name__}: {error}".splitlines()[0]
            warnings.warn(
                f"cannot compile Hydra attention ({fallback_reason}); "
                "running attention.hydra_attention instead",
                RuntimeWarning,
                stacklevel=2,
            )
    return hydra_attention(q, k, v, causal, mask)
