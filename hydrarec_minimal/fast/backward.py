"""Hydra attention with a hand-derived backward pass: ``attention.hydra_attention``, leaner.

Replaces autograd's backward of the formula with one written out, which keeps fewer
tensors for the backward pass (q̂, k̂, v, the context and two norms), keeps none when no
input needs a gradient (working in place instead), and computes the causal prefix sums in
blocks (``running_sum``). Same arguments and results as ``hydra_attention``, first
derivatives only (a second one raises ``RuntimeError``):

    from hydrarec_minimal.fast.backward import hydra_attention_hand_backward
    out = hydra_attention_hand_backward(q, k, v, causal=True, mask=mask)
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor

from hydrarec_minimal.attention import EPS, check_attention_inputs, zero_padding

#: Tokens per block in ``running_sum``.
SCAN_BLOCK = 8


def hydra_attention_hand_backward(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """``attention.hydra_attention`` (same arguments, shapes and errors) with the hand-derived
    backward pass of ``HydraAttentionFunction``."""
    check_attention_inputs(q, k, v, mask)
    return HydraAttentionFunction.apply(q, k, v, causal, mask)


def running_sum(
    x: Tensor, reverse: bool = False, block: int = SCAN_BLOCK, overwrite: bool = False
) -> Tensor:
    """``x.cumsum(-2)`` (``reverse``: the suffix sum Σ_{s≥t} x_s) in blocks of ``block`` tokens.

    A running sum inside every block at once, then the block totals prefix-summed and added
    to the blocks after them. No sum involves a later token, even through rounding.

    Args:
        x: ``(..., n, d)``.
        reverse: sum from the end (the backward pass of a prefix sum).
        block: tokens per block.
        overwrite: the result may be written into ``x`` (a temporary the caller no longer
            needs; ``x`` then holds the result, or is unchanged).

    Returns:
        ``(..., n, d)``, same dtype as ``x``.
    """
    n = x.shape[-2]
    pad = (-n) % block  # zeros at the end change no sum over real tokens
    if pad:
        out = F.pad(x, (0, 0, 0, pad))
    elif overwrite and x.is_contiguous():
        out = x
    else:
        out = x.clone(memory_format=torch.contiguous_format)
    blocks = out.unflatten(-2, (-1, block))  # (..., n / block, block, d), a view: summed in place
    slots = blocks.unbind(-2)  # block views (..., n / block, d): slot i of every block
    order = range(block - 1, -1, -1) if reverse else range(block)
    for before, slot in pairwise(order):
        slots[slot].add_(slots[before])
    if reverse:  # Σ of the blocks after each block, added to all blocks but the last
        after = slots[0][..., 1:, :].flip(-2).cumsum(-2).flip(-2)  # (..., n / block - 1, d)
        blocks[..., :-1, :, :].add_(after.unsqueeze(-2))
    else:  # Σ of the blocks before each block, added to all blocks but the first
        before = slots[-1][..., :-1, :].contiguous().cumsum(-2)  # (..., n / block - 1, d)
        blocks[..., 1:, :, :].add_(before.unsqueeze(-2))
    return out[..., :n, :]


def normalize_backward(grad_unit: Tensor, unit: Tensor, norm: Tensor) -> Tensor:
    """Gradient with respect to x through ``x̂ = x / max(‖x‖, EPS)``, given g = ∂L/∂x̂.

    Args:
        grad_unit: ``(..., n, d)`` g, a temporary: the result is written into it.
        unit: ``(..., n, d)`` x̂.
        norm: ``(..., n, 1)`` ‖x‖ (not clamped).

    Returns:
        ``(..., n, d)``: (g − x̂ (x̂·g)) / ‖x‖, or g / EPS where ‖x‖ <= EPS.
    """
    along = (unit * grad_unit).sum(dim=-1, keepdim=True)  # (..., n, 1)
    along = torch.where(norm > EPS, along, torch.zeros((), dtype=along.dtype, device=along.device))
    return grad_unit.sub_(unit * along).div_(norm.clamp_min(EPS))


class HydraAttentionFunction(torch.autograd.Function):
    """The autograd function behind ``hydra_attention_hand_backward`` (inputs unchecked).

    ``apply(q, k, v, causal, mask)``; padding inputs get zero gradients. Under CUDA autocast
    the inputs are cast to float32.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, causal: bool, mask: Tensor | None):
        keep = any(ctx.needs_input_grad[:3])  # else: nothing saved, temporaries reused in place
        q_norm = q.norm(dim=-1, keepdim=True)  # (..., n, 1)
        k_norm = k.norm(dim=-1, keepdim=True)
        q_hat, k_hat = q / q_norm.clamp_min(EPS), k / k_norm.clamp_min(EPS)
        kv = k_hat * v if keep else k_hat.mul_(v)
        kv = zero_padding(kv, mask)  # (..., n, d)
        if causal:
            context = running_sum(kv, overwrite=True)  # (..., n, d): what token t may see
        else:
            context = kv.sum(dim=-2, keepdim=True)  # (..., 1, d): what every token sees
        if keep:
            ctx.causal = causal
            ctx.save_for_backward(q_hat, k_hat, v, context, q_norm, k_norm, mask)
        return zero_padding(q_hat * context if keep else q_hat.mul_(context), mask)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        # g = ∂L/∂out (0 on padding); ∂L/∂q̂_t = g_t ⊙ c_t; r_s = Σ_{t ≥ s} g_t ⊙ q̂_t (all t
        # if bidirectional); ∂L/∂k̂_s = r_s ⊙ v_s; ∂L/∂v_s = r_s ⊙ k̂_s.
        q_hat, k_hat, v, context, q_norm, k_norm, mask = ctx.saved_tensors
        grad_out = zero_padding(grad_out, mask)
        grad_q_hat = grad_out * context
        weighted = zero_padding(grad_out * q_hat, mask)  # (..., n, d); q̂ of padding may be NaN
        if ctx.causal:
            reach = running_sum(weighted, reverse=True, overwrite=True)
        else:
            reach = weighted.sum(dim=-2, keepdim=True)  # (..., 1, d): the same r for every s
        grad_k_hat = reach * v
        grad_v = reach.mul_(k_hat) if ctx.causal else reach * k_hat  # causal: reach reused
        grads = (
            normalize_backward(grad_q_hat, q_hat, q_norm),
            normalize_backward(grad_k_hat, k_hat, k_norm),
            grad_v,
        )
        return (*(zero_padding(g, mask) for g in grads), None, None)
