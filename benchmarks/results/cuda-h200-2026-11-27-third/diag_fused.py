"""Print the largest differences, fused vs eager Hydra attention on CUDA (values, gradients)."""

import torch

from hydrarec_minimal.attention import hydra_attention
from hydrarec_minimal.fast import fused
from hydrarec_minimal.fast.fused import fused_hydra_attention

for causal in (True, False):
    generator = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(2, 300, 8, generator=generator).cuda().requires_grad_() for _ in range(3)
    )
    mask = torch.ones(2, 300, dtype=torch.bool, device="cuda")
    mask[0, :40] = False
    fast = fused_hydra_attention(q, k, v, causal=causal, mask=mask)
    eager = hydra_attention(q, k, v, causal=causal, mask=mask)
    print(
        causal,
        "fallback",
        fused.fallback_reason,
        "out max",
        eager.abs().max().item(),
        "value diff",
        (fast - eager).abs().max().item(),
    )
    fg = torch.autograd.grad(fast.square().sum(), (q, k, v))
    eg = torch.autograd.grad(eager.square().sum(), (q, k, v))
    for name, a, b in zip("qkv", fg, eg, strict=True):
        print(
            "  grad",
            name,
            "max",
            b.abs().max().item(),
            "diff",
            (a - b).abs().max().item(),
            "rel",
            ((a - b).abs() / (b.abs() + 1e-5)).max().item(),
        )
    with torch.autocast("cuda", dtype=torch.bfloat16):
        mixed = fused_hydra_attention(*(x.bfloat16() for x in (q, k, v)), causal, mask)
        mixed_eager = hydra_attention(*(x.bfloat16() for x in (q, k, v)), causal, mask)
    print(
        "  mixed",
        mixed.dtype,
        mixed_eager.dtype,
        "diff vs fp32",
        (mixed - eager).abs().max().item(),
        "eager-bf16 diff vs fp32",
        (mixed_eager - eager).abs().max().item(),
    )
