"""Hydra attention fused by torch.compile: the formula's values and gradients, or its fallback."""

from __future__ import annotations

import warnings

import pytest
import torch
from devices import NEEDS_CUDA

from hydrarec_minimal.attention import hydra_attention
from hydrarec_minimal.course.scaling import build_model
from hydrarec_minimal.fast import fused
from hydrarec_minimal.fast.compiled import CompiledInference
from hydrarec_minimal.fast.fused import blocked_prefix_sum, fused_hydra_attention
from hydrarec_minimal.model import ModelConfig, SequentialRecommender


@pytest.mark.parametrize("levels", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 33, 64, 65, 577])
def test_blocked_prefix_sum_is_a_cumulative_sum_for_any_length(n, levels):
    """577 tokens: 73 blocks, whose totals form 10 blocks at the second level."""
    x = torch.randn(2, n, 5, dtype=torch.float64)
    torch.testing.assert_close(
        blocked_prefix_sum(x, levels=levels), x.cumsum(dim=-2), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize(("block", "levels"), [(0, 2), (8, 0)])
def test_blocked_prefix_sum_refuses_empty_blocks_and_no_levels(block, levels):
    with pytest.raises(ValueError, match="at least 1"):
        blocked_prefix_sum(torch.ones(1, 4, 2), block=block, levels=levels)


@pytest.mark.parametrize("causal", [True, False])
def test_fused_values_and_gradients_equal_the_eager_kernel(causal):
    """float64, n = 50 (not a multiple of the block), left padding: tolerance 1e-10."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(2, 50, 8, dtype=torch.float64, generator=generator).requires_grad_()
        for _ in range(3)
    )
    mask = torch.ones(2, 50, dtype=torch.bool)
    mask[0, :7] = False
    fast = fused_hydra_attention(q, k, v, causal=causal, mask=mask)
    eager = hydra_attention(q, k, v, causal=causal, mask=mask)
    torch.testing.assert_close(fast, eager, rtol=0, atol=1e-10)
    weights = torch.randn(2, 50, 8, dtype=torch.float64, generator=generator)
    fast_grads = torch.autograd.grad((fast * weights).sum(), (q, k, v))
    eager_grads = torch.autograd.grad((eager * weights).sum(), (q, k, v))
    for fast_grad, eager_grad in zip(fast_grads, eager_grads, strict=True):
        torch.testing.assert_close(fast_grad, eager_grad, rtol=0, atol=1e-10)
    assert fused.fallback_reason is None  # compiled, not the fallback


@pytest.mark.parametrize(("n", "changed_from"), [(40, 21), (300, 141)])
def test_fused_causal_outputs_do_not_change_when_later_tokens_do(n, changed_from):
    """300 tokens, changed from 141 on: inside a block of 8 and of 64 tokens (both levels)."""
    q, k, v = torch.randn(3, 1, n, 16).unbind(0)
    before = fused_hydra_attention(q, k, v, causal=True)
    later = [x.clone() for x in (q, k, v)]
    for x in later:
        x[:, changed_from:] = torch.randn(1, n - changed_from, 16) * 100
    after = fused_hydra_attention(*later, causal=True)
    # exactly: no later token in any sum
    assert torch.equal(after[:, :changed_from], before[:, :changed_from])
    assert not torch.equal(after[:, changed_from:], before[:, changed_from:])


def test_bad_inputs_are_refused_before_compiling():
    with pytest.raises(ValueError, match="same shape"):
        fused_hydra_attention(torch.ones(1, 4, 8), torch.ones(1, 4, 8), torch.ones(1, 5, 8))


def test_a_failing_compiler_warns_once_and_runs_the_eager_kernel(monkeypatch):
    def failing(*args):
        raise RuntimeError("no C++ compiler found\nsecond line")

    monkeypatch.setattr(fused, "compiled_formula", failing)
    monkeypatch.setattr(fused, "fallback_reason", None)
    q, k, v = torch.randn(3, 2, 10, 4).unbind(0)
    with pytest.warns(RuntimeWarning, match="running attention.hydra_attention instead"):
        out = fused_hydra_attention(q, k, v, causal=True)
    assert torch.equal(out, hydra_attention(q, k, v, causal=True))
    assert fused.fallback_reason == "RuntimeError: no C++ compiler found"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        fused_hydra_attention(q, k, v, causal=True)


def test_a_model_with_fused_attention_computes_what_the_eager_model_does():
    """Same weights, float32: scores and gradients within 1e-5 (another order of additions)."""
    config = ModelConfig(num_items=30, max_len=12, dim=16, dropout=0.0)
    eager = SequentialRecommender(config)
    fast = SequentialRecommender(config, kernel=fused_hydra_attention)
    fast.load_state_dict(eager.state_dict())
    assert "fused" in repr(fast.blocks[0].attention) and "fused" not in repr(eager.blocks[0])
    items = torch.randint(0, 31, (4, 12))
    eager_scores, fast_scores = eager(items), fast(items)
    torch.testing.assert_close(fast_scores, eager_scores, rtol=1e-5, atol=1e-5)
    finite = eager_scores.isfinite()  # column 0 is -inf
    eager_scores[finite].square().mean().backward()
    fast_scores[finite].square().mean().backward()
    for (name, fast_parameter), eager_parameter in zip(
        fast.named_parameters(), eager.parameters(), strict=True
    ):
        torch.testing.assert_close(
            fast_parameter.grad, eager_parameter.grad, rtol=1e-4, atol=1e-5, msg=name
        )


def test_a_fused_model_compiles_for_inference_too():
    """torch.export traces through the torch.compile'd kernel: one AOT program, same scores."""
    model = build_model("hydra", 16, kernel=fused_hydra_attention, num_items=50, dim=16).eval()
    program = CompiledInference(model.score_last, autotune=False)
    items = torch.randint(1, 51, (2, 16))
    scores = program(items)
    assert program.fallback_reason is None and len(program.programs) == 1
    with torch.inference_mode():
        expected = model.score_last(items)
    torch.testing.assert_close(scores[:, 1:], expected[:, 1:], rtol=1e-5, atol=1e-5)


def padded_float32_inputs(device: str) -> tuple[torch.Tensor, ...]:
    """q, k, v ``(2, 300, 8)`` float32 needing gradients; mask ``(2, 300)``, 40 left pads."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(2, 300, 8, generator=generator).to(device).requires_grad_() for _ in range(3)
    )
    mask = torch.ones(2, 300, dtype=torch.bool, device=device)
    mask[0, :40] = False
    return q, k, v, mask


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=NEEDS_CUDA)])
@pytest.mark.parametrize("causal", [True, False])
def test_fused_float32_values_and_gradients_equal_the_eager_kernel(device, causal):
    """Differences at most 1e-5 of the largest value (float32, sums of 300 tokens in another
    order; the gradients of the bidirectional keys reach ~1,000)."""
    q, k, v, mask = padded_float32_inputs(device)
    fast = fused_hydra_attention(q, k, v, causal=causal, mask=mask)
    eager = hydra_attention(q, k, v, causal=causal, mask=mask)
    fast_grads = torch.autograd.grad(fast.square().sum(), (q, k, v))
    eager_grads = torch.autograd.grad(eager.square().sum(), (q, k, v))
    for fast_x, eager_x in zip((fast, *fast_grads), (eager, *eager_grads), strict=True):
        scale = eager_x.abs().max()
        torch.testing.assert_close(fast_x / scale, eager_x / scale, rtol=0, atol=1e-5)
    assert fused.fallback_reason is None


@NEEDS_CUDA
@pytest.mark.parametrize("causal", [True, False])
def test_fused_under_cuda_mixed_precision_sums_in_float32(causal):
    """bfloat16 inputs under autocast: a float32 output equal (to 1e-5) to the eager kernel's
    from the same rounded inputs, which both sum in float32."""
    q, k, v, mask = (
        x.detach() if x.is_floating_point() else x for x in padded_float32_inputs("cuda")
    )
    exact = hydra_attention(q, k, v, causal=causal, mask=mask)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = [x.bfloat16() for x in (q, k, v)]
        mixed = fused_hydra_attention(*low, causal=causal, mask=mask)
        mixed_eager = hydra_attention(*low, causal=causal, mask=mask)
    assert mixed.dtype == mixed_eager.dtype == torch.float32
    torch.testing.assert_close(mixed, mixed_eager, rtol=1e-5, atol=1e-5)
    assert (mixed - exact).abs().max() > 0  # the inputs were rounded
