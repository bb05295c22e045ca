"""Screening run: Hydra attention divided by the number of tokens it sums over.

    python results/ml-100k-bidirectional-screening/mean_over_tokens.py reproduce ...

Hydra attention sums ``k̂_s ⊙ v_s`` over the tokens (Bolya et al. use a sum: a vision
transformer always has the same number of tokens). A user's history here has anything from 4
to 200 real tokens, so the sum, and the attention output, is up to 50 times larger for one user
than for another. This run divides it by the number of real tokens summed (all of them when
bidirectional, those up to t when causal): a mean. Softmax attention is unchanged. Not an
option of the package: the results files do not record it.
"""

import sys

import torch
from torch import Tensor

import hydrarec_minimal.attention as attention
from hydrarec_minimal.course.cli import main

hydra_sum = attention.ATTENTION_KERNELS["hydra"]


def hydra_mean(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """``hydra_attention`` ``(batch, n, d)`` divided by the real tokens in each sum."""
    real = torch.ones(q.shape[:-1], device=q.device) if mask is None else mask.to(q.dtype)
    count = real.cumsum(-1) if causal else real.sum(-1, keepdim=True)
    return hydra_sum(q, k, v, causal, mask) / count.clamp(min=1).unsqueeze(-1)


attention.ATTENTION_KERNELS["hydra"] = hydra_mean
sys.exit(main(sys.argv[1:]))
