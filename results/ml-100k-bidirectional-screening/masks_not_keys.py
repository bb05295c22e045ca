"""Screening run: in bidirectional HydraRec, [MASK] tokens ask but do not answer.

    python results/ml-100k-bidirectional-screening/masks_not_keys.py reproduce ...

Hydra attention gives every token ``q̂_t ⊙ Σ_s k̂_s ⊙ v_s``. Each [MASK] token adds the same
vector ``k̂_mask ⊙ v_mask`` (in the first layer) to that sum, so in cloze training, where a
fifth of the tokens are masks, the sum carries a term proportional to the number of masks,
which at evaluation (one mask, at the end) is almost absent. Softmax attention can learn to
give mask keys little weight; Hydra's sum cannot. Here the values of [MASK] positions are set
to zero in every layer's Hydra attention, so masks are queries only; their outputs are still
computed. Softmax attention is unchanged. Not an option of the package: the results files do
not record it.
"""

import sys

from torch import Tensor

import hydrarec_minimal.attention as attention
import hydrarec_minimal.model as model
from hydrarec_minimal.course.cli import main

hydra_sum = attention.ATTENTION_KERNELS["hydra"]
encode = model.SequentialRecommender.encode
answering: list[Tensor | None] = [None]  # bool (batch, n): True = a real, unmasked token


def encode_marking_masks(self: model.SequentialRecommender, items: Tensor) -> Tensor:
    """``encode``, with the positions that may serve as keys noted for ``hydra_masks_ask``."""
    answering[0] = None if self.config.causal else (items != 0) & (items != self.config.mask_token)
    return encode(self, items)


def hydra_masks_ask(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """``hydra_attention`` ``(batch, n, d)`` with the values of [MASK] positions zeroed."""
    if answering[0] is not None:
        v = v * answering[0].unsqueeze(-1).to(v.dtype)
    return hydra_sum(q, k, v, causal, mask)


model.SequentialRecommender.encode = encode_marking_masks
attention.ATTENTION_KERNELS["hydra"] = hydra_masks_ask
sys.exit(main(sys.argv[1:]))
