"""Drop-in for ``F.cross_entropy(model.score(hidden), targets)`` over the whole score matrix.

``chunked_cross_entropy`` computes the same mean loss and gradients (up to float rounding)
``chunk`` positions at a time, computing the gradients in the forward pass, so the largest
thing it builds is a (chunk, num_items + 1) block instead of (positions, num_items + 1).
``train --loss ce-chunked`` uses it; ``ce`` keeps ``F.cross_entropy`` (bitwise reproducible).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hydrarec_minimal.model import item_scores

#: Positions per chunk.
CE_CHUNK = 2048


class ChunkedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``h Wᵀ + b`` (column 0, padding, excluded) against ``targets``;
    gradients computed in the forward pass, chunk by chunk."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, hidden, weights, bias, targets, chunk):
        m = hidden.shape[0]
        need_hidden, need_weights, need_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weights = torch.zeros_like(weights) if need_weights else None
        grad_bias = torch.zeros_like(bias) if need_bias else None
        need_any = need_hidden or need_weights or need_bias
        total = hidden.new_zeros(())
        for start in range(0, m, chunk):
            rows = slice(start, start + chunk)
            h, y = hidden[rows], targets[rows]  # (c, dim), (c,)
            scores = item_scores(h, weights, bias)  # (c, V), as model.score
            log_normaliser = torch.logsumexp(scores, dim=1)  # (c,)
            total += (log_normaliser - scores.gather(1, y[:, None]).squeeze(1)).sum()
            if not need_any:
                continue
            grad_scores = scores.sub_(log_normaliser[:, None]).exp_()  # softmax, in place
            grad_scores[torch.arange(len(y), device=y.device), y] -= 1.0
            grad_scores /= m  # (c, V): ∂loss/∂s of the chunk
            if need_hidden:
                grad_hidden[rows] = grad_scores @ weights
            if need_weights:
                grad_weights.addmm_(grad_scores.T, h)
            if need_bias:
                grad_bias += grad_scores.sum(dim=0)
        ctx.save_for_backward(grad_hidden, grad_weights, grad_bias)
        return total / m

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        grads = [None if g is None else g * grad_loss for g in ctx.saved_tensors]
        return (*grads, None, None)


def chunked_cross_entropy(
    hidden: Tensor, weights: Tensor, bias: Tensor | None, targets: Tensor, chunk: int = CE_CHUNK
) -> Tensor:
    """``F.cross_entropy(scores, targets)`` for ``scores = hidden @ weights.T + bias`` with
    column 0 at ``-inf``, without building ``scores`` whole.

    Args:
        hidden: ``(m, dim)`` the hidden states of the positions that have a target.
        weights: ``(V, dim)`` one row per item id 0..V-1 (``model.output_layer()``).
        bias: ``(V,)`` or None.
        targets: long ``(m,)`` in 1..V-1.
        chunk: positions per chunk (at least 1).

    Returns:
        scalar tensor: the mean loss, differentiable in ``hidden``, ``weights`` and ``bias``.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1; got {chunk}")
    if hidden.ndim != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError(
            f"hidden must be (m, dim) and targets (m,); got {tuple(hidden.shape)} and "
            f"{tuple(targets.shape)}"
        )
    return ChunkedCrossEntropy.apply(hidden, weights, bias, targets, chunk)
