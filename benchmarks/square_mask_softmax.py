"""The softmax kernel as the course ran it before it used SDPA's fused paths: the "before" side
of the fair-baseline measurements (``bench_epoch.py``, ``bench_fair_baselines.py``).

Every call with a padding mask built a (batch, heads, n, n) boolean mask, which keeps
``scaled_dot_product_attention`` on its general, quadratic-memory path even where no mask
(causal, right padding) or a key mask (bidirectional) would do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hydrarec_minimal.attention import check_attention_inputs, zero_padding


def softmax_with_square_mask(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Same result as ``attention.softmax_attention``, through an explicit (n, n) mask."""
    check_attention_inputs(q, k, v, mask)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    n = q.shape[-2]
    allowed = torch.ones(n, n, dtype=torch.bool, device=q.device)
    if causal:
        allowed = allowed.tril()
    allowed = (allowed & mask[..., None, :]) | torch.eye(n, dtype=torch.bool, device=q.device)
    out = F.scaled_dot_product_attention(
        zero_padding(q, mask), zero_padding(k, mask), zero_padding(v, mask), attn_mask=allowed
    )
    return zero_padding(out, mask)
