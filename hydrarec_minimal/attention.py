"""Four attention kernels with one interface, and the self-attention layer the models use.

Every kernel is ``kernel(q, k, v, causal=False, mask=None)``: q, k, v ``(..., n, d)`` ->
``(..., n, d)``. ``causal=True``: token t sees tokens s <= t only. ``mask``: bool ``(..., n)``,
True = real token; real tokens never see padding, whatever it holds, and its outputs are zero.
Inputs that do not fit raise ``ValueError``. Time and memory: softmax O(n²d) and O(n²); linear
and LinRec O(nd²) and O(nd); hydra O(nd) and O(nd).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import Tensor, nn

AttentionKind = Literal["softmax", "linear", "linrec", "hydra"]

EPS = 1e-6  # added to norms and normalisers: zero vectors give zero outputs, not NaN


def check_attention_inputs(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> None:
    """``ValueError`` unless q, k, v are ``(..., n, d)`` of one shape and dtype and ``mask`` is
    None or bool ``(..., n)``."""

    def shapes() -> str:
        return f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"

    if q.dim() < 2:
        raise ValueError(f"q, k, v must have shape (..., n, d); got {shapes()}")
    if not (q.shape == k.shape == v.shape):
        raise ValueError(f"q, k and v must have the same shape (..., n, d); got {shapes()}")
    if not (q.dtype == k.dtype == v.dtype):
        dtypes = f"{q.dtype}, {k.dtype}, {v.dtype}"
        raise ValueError(f"q, k and v must have the same dtype; got {dtypes}")
    if mask is None:
        return
    if mask.shape != q.shape[:-1]:
        raise ValueError(
            f"mask must have shape (..., n) = {tuple(q.shape[:-1])} to match {shapes()}; "
            f"got mask {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (True = real token); got {mask.dtype}")


def zero_padding(x: Tensor, mask: Tensor | None) -> Tensor:
    """``x`` ``(..., n, d)`` with the rows of padding (``mask`` False) set to 0, even inf or NaN."""
    if mask is None:
        return x
    return torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))


def hydra_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Hydra attention (Bolya et al., 2022): cosine similarity, one head per feature.

    out_t = q̂_t ⊙ Σ_s k̂_s ⊙ v_s, x̂ = x / max(‖x‖, EPS) over the d features, the sum over the
    real tokens s (``causal``: s <= t). Under CUDA autocast it computes and returns float32.
    """
    check_attention_inputs(q, k, v, mask)
    if q.device.type == "cuda" and torch.is_autocast_enabled("cuda"):
        q, k, v = (x.float() for x in (q, k, v))
    q_hat = F.normalize(q, dim=-1, eps=EPS)
    k_hat = F.normalize(k, dim=-1, eps=EPS)
    kv = zero_padding(k_hat * v, mask)  # (..., n, d): padding contributes nothing
    context = kv.cumsum(dim=-2) if causal else kv.sum(dim=-2, keepdim=True)
    return zero_padding(q_hat * context, mask)


def hydra_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Hydra attention as d heads of size 1 with explicit n x n scores: O(n²d), for checking
    ``hydra_attention``."""
    check_attention_inputs(q, k, v, mask)
    n = q.shape[-2]
    q_hat = F.normalize(q, dim=-1, eps=EPS)
    k_hat = F.normalize(k, dim=-1, eps=EPS)
    scores = einsum(q_hat, k_hat, "... t h, ... s h -> ... h t s")
    allowed = torch.ones(n, n, dtype=torch.bool, device=q.device)  # allowed[t, s]
    if causal:
        allowed = allowed.tril()
    if mask is not None:
        allowed = allowed & mask[..., None, None, :]  # keys must be real: (..., 1, 1, n)
    scores = torch.where(allowed, scores, torch.zeros((), dtype=q.dtype, device=q.device))
    out = einsum(scores, v, "... h t s, ... s h -> ... t h")
    return zero_padding(out, mask)


def softmax_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Scaled dot-product attention (Vaswani et al., 2017), as in SASRec and BERT4Rec.

    PyTorch's fused kernel; an (n, n) mask is built only for causal attention with padding
    before or between real tokens (right padding needs none, bidirectional a key mask).
    """
    check_attention_inputs(q, k, v, mask)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    q, k, v = (zero_padding(x, mask) for x in (q, k, v))
    if not causal:
        # a sequence of padding only sees its (zeroed) keys, not NaN
        keys = mask[..., None, :] | ~mask.any(dim=-1)[..., None, None]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)
    elif is_right_padded(mask):
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        n = q.shape[-2]
        allowed = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        allowed = (allowed & mask[..., None, :]) | torch.eye(n, dtype=torch.bool, device=q.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    return zero_padding(out, mask)


def is_right_padded(mask: Tensor) -> bool:
    """True if no real token (``mask`` True) comes after padding along the last dimension."""
    return not bool((mask[..., 1:] & ~mask[..., :-1]).any())


CHUNK = 64  # tokens per chunk of causal linear and LinRec attention


def causal_kernel_sum(q: Tensor, k: Tensor, v: Tensor, chunk: int = CHUNK) -> Tensor:
    """out_t = Σ_{s≤t} (q_t·k_s) v_s without an n x n tensor: chunk x chunk scores inside each
    chunk, a d x e state for the chunks before it. q, k ``(..., n, d)``, v ``(..., n, e)``."""
    n = q.shape[-2]
    chunk = min(chunk, n)
    pad = (-n) % chunk
    q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
    q, k, v = (rearrange(x, "... (m c) f -> ... m c f", c=chunk) for x in (q, k, v))
    weights = einsum(q, k, "... m t d, ... m s d -> ... m t s").tril()  # within each chunk
    within = einsum(weights, v, "... m t s, ... m s e -> ... m t e")
    chunk_states = einsum(k, v, "... m s d, ... m s e -> ... m d e")
    earlier = chunk_states.cumsum(dim=-3) - chunk_states  # Σ over the chunks before this one
    across = einsum(q, earlier, "... m t d, ... m d e -> ... m t e")
    return rearrange(within + across, "... m c e -> ... (m c) e")[..., :n, :]


def _kernelized_attention(
    q_features: Tensor, k_features: Tensor, v: Tensor, causal: bool, normalise: bool
) -> Tensor:
    """out_t = Σ_s φ(q_t)·φ(k_s) v_s (s <= t if ``causal``) as φ(q) (φ(k)ᵀ v); ``normalise``:
    divided by Σ_s φ(q_t)·φ(k_s). Features with padding zeroed ``(..., n, d)``."""
    if normalise:
        v = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    if causal:
        out = causal_kernel_sum(q_features, k_features, v)
    else:
        state = einsum(k_features, v, "... s d, ... s e -> ... d e")
        out = einsum(q_features, state, "... t d, ... d e -> ... t e")
    if normalise:
        out = out[..., :-1] / out[..., -1:].clamp_min(EPS)
    return out


def linear_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Linear attention (Katharopoulos et al., 2020): φ(x) = elu(x) + 1, normalised."""
    check_attention_inputs(q, k, v, mask)
    q_features = F.elu(q) + 1
    k_features = zero_padding(F.elu(k) + 1, mask)
    out = _kernelized_attention(q_features, k_features, zero_padding(v, mask), causal, True)
    return zero_padding(out, mask)


def linrec_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """LinRec attention (Liu et al., SIGIR 2023): L2-normalised ELU features, no normaliser.

    Queries normalised over features, keys over the real tokens that token t may see (the
    public LinRec code's norms also see padding and the future).
    """
    check_attention_inputs(q, k, v, mask)
    q_features = F.normalize(F.elu(q), dim=-1, eps=EPS)
    k_features = zero_padding(F.elu(k), mask)
    squares = k_features.square()
    if causal:
        k_norm = squares.cumsum(dim=-2).add(EPS**2).sqrt()
    else:
        k_norm = squares.sum(dim=-2, keepdim=True).add(EPS**2).sqrt()
    out = _kernelized_attention(
        q_features / k_norm, k_features, zero_padding(v, mask), causal, False
    )
    return zero_padding(out, mask)


AttentionKernel = Callable[..., Tensor]

ATTENTION_KERNELS: dict[str, AttentionKernel] = {
    "softmax": softmax_attention,
    "linear": linear_attention,
    "linrec": linrec_attention,
    "hydra": hydra_attention,
}


def get_attention_kernel(kind: str) -> AttentionKernel:
    """Return the kernel called ``kind``; ``ValueError`` listing the choices otherwise."""
    if kind not in ATTENTION_KERNELS:
        raise ValueError(f"unknown attention {kind!r}; choose one of {sorted(ATTENTION_KERNELS)}")
    return ATTENTION_KERNELS[kind]


class SelfAttention(nn.Module):
    """Project to q, k, v, apply one kernel, project back (dropout on the output).

    ``heads`` must divide ``dim`` (Hydra always has ``dim`` heads of one feature); ``kernel``
    replaces ``kind``'s kernel (e.g. ``fast.fused``'s). ``ValueError`` for a bad kind or heads.
    """

    def __init__(
        self,
        dim: int,
        kind: AttentionKind = "hydra",
        causal: bool = False,
        heads: int = 1,
        dropout: float = 0.0,
        kernel: AttentionKernel | None = None,
    ) -> None:
        super().__init__()
        if dim <= 0 or heads <= 0 or dim % heads != 0:
            raise ValueError(f"heads must divide dim, both positive; got dim={dim}, heads={heads}")
        self.kernel = kernel or get_attention_kernel(kind)
        self.kind = kind
        self.causal = causal
        self.heads = dim if kind == "hydra" else heads
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.to_out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x``: ``(batch, n, dim)``; ``mask``: optional bool ``(batch, n)``. Same shape out."""
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        if self.kind == "hydra":  # heads = features: (batch, n, dim) as is
            out = self.kernel(q, k, v, causal=self.causal, mask=mask)
        else:
            split = "b n (h e) -> b h n e"
            q, k, v = (rearrange(t, split, h=self.heads) for t in (q, k, v))
            head_mask = None if mask is None else mask[:, None, :].expand(-1, self.heads, -1)
            out = self.kernel(q, k, v, causal=self.causal, mask=head_mask)
            out = rearrange(out, "b h n e -> b n (h e)")
        return self.dropout(self.to_out(out))

    def extra_repr(self) -> str:
        direction = "causal" if self.causal else "bidirectional"
        kernel = self.kernel.__name__ if self.kernel is not ATTENTION_KERNELS[self.kind] else ""
        return f"kind={self.kind}, {direction}, heads={self.heads}" + (kernel and f", {kernel}")
