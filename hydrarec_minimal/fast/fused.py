"""Hydra attention fused by ``torch.compile``: the plain formula, compiled, with a fallback.

``attention.hydra_attention`` is eager PyTorch with a hand-derived backward pass: every step
(two norms, two divisions, the products, the blocks of the running sum; twice as many steps
backward) is a separate operation that reads and writes whole ``(..., n, d)`` tensors. Written
as plain differentiable operations instead and handed to ``torch.compile``, the same function
becomes a few fused loops: autograd derives the backward pass from the forward graph
(AOTAutograd) and inductor fuses both, so most intermediate tensors never reach memory.
On two CPU cores (``benchmarks/bench_attention.py``, 8,192 tokens per call) causal forward +
backward ran 1.28-1.49 times faster than the eager kernel and the forward pass 1.22-1.38
times (2.5-2.7 times the time of copying q, k, v and the output once). On an NVIDIA H200
(release 0.5.0's version, one level of blocks in the prefix sum) causal forward + backward ran
1.20-1.78 times faster and the forward pass 1.34-1.87 times; the bidirectional forward pass,
one sum over the tokens in either version, ran 0.85-0.96 times as fast (slower): use it for
causal models.

    from hydrarec_minimal.fast.fused import fused_hydra_attention
    out = fused_hydra_attention(q, k, v, causal=True, mask=mask)   # as hydra_attention

The causal prefix sum is written as in ``attention.running_sum``: a running sum inside blocks
of 8 tokens (7 additions, each over every block at once), then the block totals prefix-summed
(in blocks of 8 again: ``blocked_prefix_sum``) and added to the next blocks. Every token's sum
still involves no later token, not even through rounding, so causal outputs never change when
later tokens do.

What compiling costs: a few seconds at the first call, and again for each new shape or kind
of call (forward only or with gradients, causal or not, with or without a mask, another dtype
or device). A model in training sees few shapes (the training batch, the smaller last batch,
the same for evaluation). Code compiled for any shape (``torch.compile``'s ``dynamic``) was
no faster than the eager kernel on two CPU cores, and forward + backward took about twice as
long as code compiled for each shape, so each shape gets its own (up to ``MAX_SHAPES``). Where
compiling is impossible (no C++ compiler, as on Windows without Visual Studio, or a platform
inductor does not support), the first call warns once and every call runs
``attention.hydra_attention``: the same results at eager speed (``fallback_reason`` says why).

Results equal ``hydra_attention``'s up to float rounding (the fused loops add in another
order; the tests compare values and gradients). Under CUDA mixed precision (``torch.autocast``)
q, k, v are cast to float32 first, as ``hydra_attention`` does.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from hydrarec_minimal.attention import (
    EPS,
    SCAN_BLOCK,
    check_attention_inputs,
    hydra_attention,
    zero_padding,
)

#: ``None`` while compiling works; else why the calls run ``hydra_attention`` instead.
fallback_reason: str | None = None

#: Levels of blocks in the compiled causal prefix sum (``blocked_prefix_sum``): 2 measured
#: fastest on two CPU cores (``benchmarks/bench_fused_prefix_sum.py``).
PREFIX_LEVELS = 2


def blocked_prefix_sum(x: Tensor, block: int = SCAN_BLOCK, levels: int = PREFIX_LEVELS) -> Tensor:
    """``out_t = Σ_{s≤t} x_s`` over the token axis, as plain operations that a compiler fuses.

    The arithmetic of ``attention.running_sum``, written out of place (``running_sum`` adds
    into views of its own blocks to save memory in eager mode, which autograd refuses to
    differentiate, and which, compiled for the forward pass alone, ran about 1.6 times slower
    than this version on two CPU cores), and with the block totals themselves prefix-summed in
    blocks:

    1. inside each block of ``block`` tokens, a running sum (``block - 1`` additions, each over
       one token slot of every block at once);
    2. what the blocks before block i hold: the block totals shifted down by one block (block 0
       gets zeros), prefix-summed: by this same function, one level fewer, or at the last level
       by ``cumsum``;
    3. that added to every token of block i.

    Why more than one level: PyTorch's CPU ``cumsum`` walks each feature column one number at a
    time, every addition waiting for the one before. ``benchmarks/bench_fused_prefix_sum.py``
    (two CPU cores, 8,192 tokens per call): with one level it took 29-71 µs (the most at
    n = 8,192) of each compiled forward pass (292-306 µs); with two it has n/64 rows (11-14 µs),
    and the forward pass took 265-277 µs (1.08-1.11x faster), forward + backward 0.99-1.08x.
    A third level was slower than two (forward 1.05-1.10x, forward + backward 0.97-1.03x
    against one level): each level adds index arithmetic to every token's load.

    Every token's sum adds only tokens up to itself, in an order fixed by the shape: causal
    outputs never change when later tokens do, not even through rounding.

    Args:
        x: ``(..., n, d)``.
        block: tokens per block.
        levels: how many times blocks are formed (1: the block totals go straight to
            ``cumsum``).

    Returns:
        ``(..., n, d)``: the same numbers as ``x.cumsum(-2)``, up to rounding.
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
    """Hydra attention as plain differentiable operations: what ``torch.compile`` fuses.

    Args:
        q, k, v: ``(..., n, d)``; mask: ``None`` or bool ``(..., n)``, True = real token.
        levels: levels of blocks in the causal prefix sum (``blocked_prefix_sum``).

    Returns:
        ``(..., n, d)``, as ``attention.hydra_attention``.
    """
    q_hat = F.normalize(q, dim=-1, eps=EPS)
    k_hat = F.normalize(k, dim=-1, eps=EPS)
    kv = zero_padding(k_hat * v, mask)  # (..., n, d)
    context = blocked_prefix_sum(kv, levels=levels) if causal else kv.sum(dim=-2, keepdim=True)
    return zero_padding(q_hat * context, mask)


#: Compiled graphs kept for ``hydra_formula`` (torch's default limit of 8 counts every model
#: and shape in a process; past the limit dynamo runs the formula uncompiled).
MAX_SHAPES = 64

compiled_formula = torch.compile(hydra_formula, dynamic=False)


@functools.cache
def import_compiler_quietly() -> None:
    """Import the C++ build helpers that inductor uses, without their stderr notice.

    A CUDA build of torch on a machine with a CUDA toolkit but no GPU reports "No CUDA runtime
    is found, using CUDA_HOME=..." when ``torch.utils.cpp_extension`` is first imported (a
    print in some releases, a log warning in others); it says nothing about CPU compilation and
    would be the only output of a notebook cell.
    """
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            import torch.utils.cpp_extension  # noqa: F401
    finally:
        logger.setLevel(level)


def fused_hydra_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None
) -> Tensor:
    """``attention.hydra_attention``, compiled (see the module docstring for costs and limits).

    Args:
        q, k, v: ``(..., n, d)`` queries, keys, values.
        causal: if True, token t only attends to tokens s <= t.
        mask: optional bool ``(..., n)``, True = real token, False = padding.

    Returns:
        ``(..., n, d)``; float32 under CUDA mixed precision, else the dtype of ``q``.
    """
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
