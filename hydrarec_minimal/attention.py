"""Four attention kernels with one interface, and the self-attention layer the models use.

Every kernel takes queries, keys and values shaped ``(..., n, d)`` (any number of leading batch
or head dimensions, ``n`` tokens, ``d`` features) and returns ``(..., n, d)``:

    kernel(q, k, v, causal=False, mask=None)

- ``causal=True``: token ``t`` only sees tokens ``s <= t`` (next-item prediction, SASRec-style).
- ``mask``: bool ``(..., n)``, True for real tokens, False for padding. Padding tokens are never
  seen by real tokens, whatever they contain, and their own outputs are zero.

The kernels, from most to least expensive:

===========  ==========================================  ==============  =============
kernel       similarity of query t and key s              time            memory
===========  ==========================================  ==============  =============
softmax      exp(q_t . k_s / sqrt(d)), normalised         O(n^2 d)        O(n^2)
linear       phi(q_t) . phi(k_s), phi = elu + 1           O(n d^2)        O(n d)*
linrec       L2-normalised elu features (LinRec)          O(n d^2)        O(n d)*
hydra        cosine, one head per feature                 O(n d)          O(n d)
===========  ==========================================  ==============  =============

(*) plus one d x d state: bidirectional mode sums all keys and values into it once; causal
mode works through the sequence in chunks of ``CHUNK`` tokens (a small chunk x chunk matrix
inside each chunk, one d x d state per chunk for what came before; ``causal_kernel_sum``).

``hydra_attention_reference`` computes Hydra attention the slow, obvious way (an explicit
n x n score matrix per head and an explicit mask); tests and notebook 03 check the fast path
against it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Literal

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import Tensor, nn

AttentionKind = Literal["softmax", "linear", "linrec", "hydra"]

#: Added to norms and normalisers so that zero vectors give zero (not NaN) outputs.
EPS = 1e-6


def check_attention_inputs(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> None:
    """Raise ``ValueError`` (naming the shapes given) unless q, k, v, mask fit together.

    Args:
        q, k, v: ``(..., n, d)``, all the same shape and dtype.
        mask: ``None`` or bool ``(..., n)`` matching the leading dimensions of q.
    """

    def shapes() -> str:  # only built for an error message: this check runs on every call
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
    """Set the rows of padding tokens to zero.

    ``torch.where`` rather than multiplication, so that padding holding inf or NaN cannot leak.

    Args:
        x: ``(..., n, d)``.
        mask: ``None`` or bool ``(..., n)``, True = real token.

    Returns:
        ``(..., n, d)``, equal to ``x`` on real tokens and 0 on padding.
    """
    if mask is None:
        return x
    return torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))


# ----------------------------------------------------------------------------------------------
# Hydra attention: the subject of the course
# ----------------------------------------------------------------------------------------------


def hydra_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Hydra attention (Bolya et al., 2022): the cosine kernel with as many heads as features.

    With q̂ = q/‖q‖ and k̂ = k/‖k‖ (each token normalised over its d features), every feature
    is its own head of size 1, and the whole computation collapses to element-wise products
    and one sum over tokens:

        bidirectional:  out_t = q̂_t ⊙ Σ_s     k̂_s ⊙ v_s
        causal:         out_t = q̂_t ⊙ Σ_{s≤t} k̂_s ⊙ v_s      (a prefix sum)

    Padding tokens contribute nothing (their k̂ ⊙ v is zeroed) and their outputs are zero.
    There is no normaliser: like the paper, the cosine similarities are used as they are.
    Time and memory are O(n·d); no n x n tensor is ever built.

    Args:
        q, k, v: ``(..., n, d)`` queries, keys, values.
        causal: if True, token t only attends to tokens s <= t.
        mask: optional bool ``(..., n)``, True = real token, False = padding.

    Returns:
        ``(..., n, d)``, same dtype and device as ``q``.
    """
    check_attention_inputs(q, k, v, mask)
    return HydraAttentionFunction.apply(q, k, v, causal, mask)


#: Tokens per block in ``running_sum`` (measured best on CPU among 4, 8, 16, 32).
SCAN_BLOCK = 8


def running_sum(
    x: Tensor, reverse: bool = False, block: int = SCAN_BLOCK, overwrite: bool = False
) -> Tensor:
    """Prefix sum over tokens, ``out_t = Σ_{s≤t} x_s`` (or, ``reverse``, ``Σ_{s≥t} x_s``).

    The same numbers as ``x.cumsum(-2)``, computed in blocks of ``block`` tokens so that every
    step is a vectorised operation over many tokens at once (PyTorch's CPU ``cumsum`` walks
    each of the ``d`` feature columns one number at a time, which is several times slower and
    gets slower still for long sequences, whose columns do not stay in the cache):

    1. inside each block, a running sum: ``block - 1`` additions, each over one token slot of
       every block at once;
    2. the block totals (the last slot of step 1), prefix-summed over blocks (a ``cumsum``
       over ``n / block`` rows, copied first so that it runs over contiguous memory): what
       all earlier blocks contribute;
    3. that added to every token of every block but the first.

    Token t's sum never involves a token after t, not even through rounding, so causal
    outputs stay exactly unchanged when later tokens change (notebook 03 checks this).

    Args:
        x: ``(..., n, d)``.
        reverse: sum from the end (a suffix sum; the backward pass of a prefix sum).
        block: tokens per block.
        overwrite: allow the result to be written into ``x`` itself (when ``x`` is contiguous
            and ``n`` a multiple of ``block``), which saves a copy. Only for a temporary that
            the caller no longer needs: ``x`` then holds the result, or is unchanged.

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
    """Gradient through ``x̂ = x / max(‖x‖, EPS)`` (``F.normalize``), given ``∂L/∂x̂``.

    For ‖x‖ > EPS: ∂L/∂x = (g − x̂ (x̂·g)) / ‖x‖ — the part of g along x̂ is removed, because
    stretching x does not change x̂. For ‖x‖ ≤ EPS the divisor is the constant EPS: g / EPS.

    Args:
        grad_unit: ``(..., n, d)`` the gradient g with respect to x̂: a temporary, which the
            result is written into (one fewer (..., n, d) tensor).
        unit: ``(..., n, d)`` x̂.
        norm: ``(..., n, 1)`` ‖x‖ (not clamped).

    Returns:
        ``(..., n, d)`` the gradient with respect to x (``grad_unit`` itself).
    """
    along = (unit * grad_unit).sum(dim=-1, keepdim=True)  # (..., n, 1)
    along = torch.where(norm > EPS, along, torch.zeros((), dtype=along.dtype, device=along.device))
    return grad_unit.sub_(unit * along).div_(norm.clamp_min(EPS))


class HydraAttentionFunction(torch.autograd.Function):
    """``hydra_attention`` with a hand-derived backward pass, so autograd keeps few tensors.

    Forward (c = context, ⊙ element-wise, sums over tokens s; ``causal``: s ≤ t):

        q̂ = q / ‖q‖,  k̂ = k / ‖k‖,  c_t = Σ_s k̂_s ⊙ v_s,  out_t = q̂_t ⊙ c_t

    Backward, with g_t = ∂L/∂out_t (zero on padding). out_t depends on q̂_t through c_t only,
    and on k̂_s ⊙ v_s through every t that sums it (t ≥ s when causal, every t otherwise):

        ∂L/∂q̂_t = g_t ⊙ c_t
        r_s     = Σ_{t ≥ s} g_t ⊙ q̂_t         (bidirectional: Σ over all t, the same for each s)
        ∂L/∂k̂_s = r_s ⊙ v_s,    ∂L/∂v_s = r_s ⊙ k̂_s

    and ∂L/∂q, ∂L/∂k from ∂L/∂q̂, ∂L/∂k̂ through the normalisation (``normalize_backward``).
    Padding tokens get zero gradients (their inputs cannot change any output). Saved for the
    backward pass: q̂, k̂, v, c and the two norms, all O(n·d) — only when some input needs a
    gradient; otherwise (evaluation, inference) nothing is kept and k̂ ⊙ v and q̂ ⊙ c are written
    into k̂ and q̂, the same numbers with two fewer tensors. ``gradcheck`` in the tests checks
    the derivation against finite differences; first derivatives only.

    Under CUDA mixed precision (``torch.autocast``, as ``train`` uses on a GPU) the inputs are
    cast to float32 and the output is float32: a running sum over hundreds of tokens kept in
    bfloat16 (8 significant bits) would lose the early tokens in rounding. The cost is O(n·d),
    small next to the linear layers around it, which stay in bfloat16.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, causal: bool, mask: Tensor | None):
        keep = any(ctx.needs_input_grad[:3])
        q_norm = q.norm(dim=-1, keepdim=True)  # (..., n, 1)
        k_norm = k.norm(dim=-1, keepdim=True)
        q_hat, k_hat = q / q_norm.clamp_min(EPS), k / k_norm.clamp_min(EPS)
        kv = k_hat * v if keep else k_hat.mul_(v)
        kv = zero_padding(kv, mask)  # (..., n, d): one "key times value" per head
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
        q_hat, k_hat, v, context, q_norm, k_norm, mask = ctx.saved_tensors
        grad_out = zero_padding(grad_out, mask)
        grad_q_hat = grad_out * context
        weighted = zero_padding(grad_out * q_hat, mask)  # (..., n, d); q̂ of padding may be NaN
        if ctx.causal:
            reach = running_sum(weighted, reverse=True, overwrite=True)  # r_s = Σ_{t≥s} g_t ⊙ q̂_t
        else:
            reach = weighted.sum(dim=-2, keepdim=True)  # (..., 1, d): the same r for every s
        grad_k_hat = reach * v
        # Causal: reach is an (..., n, d) temporary, so ∂L/∂v is written into it.
        grad_v = reach.mul_(k_hat) if ctx.causal else reach * k_hat
        grads = (
            normalize_backward(grad_q_hat, q_hat, q_norm),
            normalize_backward(grad_k_hat, k_hat, k_norm),
            grad_v,
        )
        return (*(zero_padding(g, mask) for g in grads), None, None)


def hydra_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Hydra attention written as ordinary multi-head linear attention: obviously right, slow.

    d heads of size 1. Head h scores query t against key s with q̂_t[h]·k̂_s[h], so each head
    has an explicit n x n score matrix; an explicit n x n mask says which (t, s) pairs may
    interact (s <= t when causal; s real when there is padding). Costs O(n²·d) time and
    memory: use it to check ``hydra_attention``, never to train.

    Args:
        q, k, v: ``(..., n, d)``.
        causal: if True, token t only attends to tokens s <= t.
        mask: optional bool ``(..., n)``, True = real token.

    Returns:
        ``(..., n, d)``, equal to ``hydra_attention(q, k, v, causal, mask)``.
    """
    check_attention_inputs(q, k, v, mask)
    n = q.shape[-2]
    q_hat = F.normalize(q, dim=-1, eps=EPS)
    k_hat = F.normalize(k, dim=-1, eps=EPS)
    # scores[..., h, t, s] = q̂_t[h] * k̂_s[h]: one n x n matrix per head (= per feature).
    scores = einsum(q_hat, k_hat, "... t h, ... s h -> ... h t s")
    allowed = torch.ones(n, n, dtype=torch.bool, device=q.device)  # allowed[t, s]
    if causal:
        allowed = allowed.tril()
    if mask is not None:
        allowed = allowed & mask[..., None, None, :]  # keys must be real: (..., 1, 1, n)
    scores = torch.where(allowed, scores, torch.zeros((), dtype=q.dtype, device=q.device))
    out = einsum(scores, v, "... h t s, ... s h -> ... t h")
    return zero_padding(out, mask)


# ----------------------------------------------------------------------------------------------
# The comparison kernels
# ----------------------------------------------------------------------------------------------


def softmax_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """Scaled dot-product attention (Vaswani et al., 2017), as used by SASRec and BERT4Rec.

    out_t = Σ_s softmax_s(q_t·k_s/√d) v_s over the allowed keys s. Builds the n x n score
    matrix, so time is O(n²·d) and memory O(n²), whatever the number of heads.

    Every token may always attend to itself, so a padding query (whose output is zeroed
    anyway) never sees an empty row, which would give NaN.

    Args:
        q, k, v: ``(..., n, d)``.
        causal: if True, token t only attends to tokens s <= t.
        mask: optional bool ``(..., n)``, True = real token.

    Returns:
        ``(..., n, d)``.
    """
    check_attention_inputs(q, k, v, mask)
    if mask is None:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return out
    n = q.shape[-2]
    allowed = torch.ones(n, n, dtype=torch.bool, device=q.device)
    if causal:
        allowed = allowed.tril()
    allowed = (allowed & mask[..., None, :]) | torch.eye(n, dtype=torch.bool, device=q.device)
    # Padding may hold anything (even inf); zero it so that 0-weighted values cannot give NaN.
    out = F.scaled_dot_product_attention(
        zero_padding(q, mask), zero_padding(k, mask), zero_padding(v, mask), attn_mask=allowed
    )
    return zero_padding(out, mask)


#: Tokens per chunk in causal linear / LinRec attention (see ``causal_kernel_sum``).
CHUNK = 64


def causal_kernel_sum(q: Tensor, k: Tensor, v: Tensor, chunk: int = CHUNK) -> Tensor:
    """out_t = Σ_{s≤t} (q_t·k_s) v_s without any n x n tensor, chunk by chunk.

    The sequence is cut into chunks of ``chunk`` tokens. Inside a chunk the weights q_t·k_s
    form a small chunk x chunk matrix, masked to s <= t. Everything before the chunk is one
    d x e state, Σ k_s v_sᵀ over the earlier chunks (a prefix sum over chunks). So time is
    O(n·(chunk·d + d·e)) and memory O(n·chunk + (n/chunk)·d·e): linear in n, and far less
    memory than keeping a d x e state for every token.

    Args:
        q, k: ``(..., n, d)``; v: ``(..., n, e)``.
        chunk: tokens per chunk.

    Returns:
        ``(..., n, e)``.
    """
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
    """Attention with a feature map, computed right-to-left: φ(q) (φ(k)ᵀ v), never n x n.

    out_t = Σ φ(q_t)·φ(k_s) v_s / Σ φ(q_t)·φ(k_s), the sums over all s (bidirectional) or
    s <= t (causal, ``causal_kernel_sum``). The normaliser rides along as an extra column of
    ones appended to v: its output is exactly Σ φ(q_t)·φ(k_s).

    Args:
        q_features, k_features: ``(..., n, d)`` feature-mapped queries and keys, padding
            already zeroed in ``k_features``.
        v: ``(..., n, e)`` values.
        causal: sums over s <= t (True) or over all s (False).
        normalise: divide by Σ φ(q_t)·φ(k_s) (Katharopoulos et al.); False leaves the sum.

    Returns:
        ``(..., n, e)``.
    """
    if normalise:
        v = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)  # (..., n, e + 1)
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
    """Linear attention (Katharopoulos et al., 2020): feature map φ(x) = elu(x) + 1.

    out_t = Σ_s φ(q_t)·φ(k_s) v_s / Σ_s φ(q_t)·φ(k_s), with the sums over all s, or over
    s <= t when causal. Because φ > 0 the normaliser is positive. Computed as
    φ(q_t)ᵀ (Σ_s φ(k_s) v_sᵀ): O(n·d²) time, no n x n tensor.

    Args:
        q, k, v: ``(..., n, d)``.
        causal: if True, token t only attends to tokens s <= t (prefix sums).
        mask: optional bool ``(..., n)``, True = real token.

    Returns:
        ``(..., n, d)``.
    """
    check_attention_inputs(q, k, v, mask)
    q_features = F.elu(q) + 1
    k_features = zero_padding(F.elu(k) + 1, mask)
    out = _kernelized_attention(q_features, k_features, zero_padding(v, mask), causal, True)
    return zero_padding(out, mask)


def linrec_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """LinRec attention (Liu et al., SIGIR 2023): L2-normalised ELU features, no normaliser.

    Queries: elu(q_t), L2-normalised over features (each row). Keys: elu(k), L2-normalised
    over the sequence for each feature (each column of the n x d key matrix). Then
    out = Q' (K'ᵀ V), O(n·d²).

    Masks done right. The public LinRec code ignores both masks: padding keys enter the
    column norms and the sums, and in causal (SASRec-style) training the column norm is taken
    over the whole sequence, future included, so the model can see the future through it.
    Here the column norm of token t's keys runs only over the real tokens it may see
    (s <= t when causal), computed as a prefix sum of squares: no leakage, still linear.

    Args:
        q, k, v: ``(..., n, d)``.
        causal: if True, token t only attends to tokens s <= t.
        mask: optional bool ``(..., n)``, True = real token.

    Returns:
        ``(..., n, d)``.
    """
    check_attention_inputs(q, k, v, mask)
    q_features = F.normalize(F.elu(q), dim=-1, eps=EPS)
    k_features = zero_padding(F.elu(k), mask)
    squares = k_features.square()
    if causal:
        k_norm = squares.cumsum(dim=-2).add(EPS**2).sqrt()  # (..., n, d): norm over s <= t
    else:
        k_norm = squares.sum(dim=-2, keepdim=True).add(EPS**2).sqrt()  # (..., 1, d)
    out = _kernelized_attention(
        q_features / k_norm, k_features, zero_padding(v, mask), causal, False
    )
    return zero_padding(out, mask)


AttentionKernel = Callable[..., Tensor]

#: Every kernel by name; all share the signature ``(q, k, v, causal=False, mask=None)``.
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
    """Self-attention layer: project to q, k, v, apply one kernel, project back.

    ``kind`` picks the kernel; ``causal`` the direction. Softmax, linear and LinRec split the
    ``dim`` features into ``heads`` heads of ``dim // heads`` features. Hydra attention ignores
    ``heads``: it always has ``dim`` heads of one feature, which is what makes it O(n·d).

    Args:
        dim: model width d.
        kind: "softmax", "linear", "linrec" or "hydra".
        causal: token t only attends to tokens s <= t.
        heads: number of heads for softmax, linear and LinRec (must divide ``dim``).
        dropout: dropout on the output projection.
        fused: Hydra only: the kernel compiled by ``torch.compile``
            (``fused.fused_hydra_attention``), the same function fused.
    """

    def __init__(
        self,
        dim: int,
        kind: AttentionKind = "hydra",
        causal: bool = False,
        heads: int = 1,
        dropout: float = 0.0,
        fused: bool = False,
    ) -> None:
        super().__init__()
        if dim <= 0 or heads <= 0 or dim % heads != 0:
            raise ValueError(f"heads must divide dim, both positive; got dim={dim}, heads={heads}")
        self.kernel = get_attention_kernel(kind)
        if fused:
            if kind != "hydra":
                raise ValueError(f"fused attention is Hydra's only; got kind={kind!r}")
            from hydrarec_minimal.fast.fused import fused_hydra_attention  # it imports this module

            self.kernel = fused_hydra_attention
        self.kind = kind
        self.causal = causal
        self.heads = dim if kind == "hydra" else heads
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.to_out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Attend over the sequence.

        Args:
            x: ``(batch, n, dim)`` token representations.
            mask: optional bool ``(batch, n)``, True = real token.

        Returns:
            ``(batch, n, dim)``.
        """
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        if self.kind == "hydra":  # heads = features: the kernel works on (batch, n, dim) as is
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
        fused = ", fused" if self.kernel is not ATTENTION_KERNELS[self.kind] else ""
        return f"kind={self.kind}, {direction}, heads={self.heads}{fused}"


def attention_flops(kind: str, n: int, d: int, heads: int = 1) -> float:
    """Leading-order multiply-adds of one attention call on one sequence (for notebook 01).

    softmax: 2·n²·d (scores and weighted sum; heads do not change it); linear/LinRec:
    2·n·d²/H (the d x d state per head); hydra: 2·n·d.
    """
    if kind == "softmax":
        return 2.0 * n * n * d
    if kind in ("linear", "linrec"):
        return 2.0 * n * d * d / heads
    if kind == "hydra":
        return 2.0 * n * d
    raise ValueError(f"unknown attention {kind!r}; choose one of {sorted(ATTENTION_KERNELS)}")


__all__ = [
    "ATTENTION_KERNELS",
    "AttentionKind",
    "SelfAttention",
    "attention_flops",
    "check_attention_inputs",
    "get_attention_kernel",
    "hydra_attention",
    "hydra_attention_reference",
    "linear_attention",
    "linrec_attention",
    "softmax_attention",
    "zero_padding",
]
