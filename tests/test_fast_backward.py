"""The hand-derived backward pass: the formula's values and gradients, with less kept."""

from __future__ import annotations

import pytest
import torch
from devices import NEEDS_CUDA
from test_attention import DIRECTIONS, PADDINGS, SHAPES, padding_mask, random_qkv

from hydrarec_minimal.attention import EPS, hydra_attention
from hydrarec_minimal.fast.backward import hydra_attention_hand_backward, running_sum


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_hand_backward_values_and_gradients_equal_the_formula(shape, padding, causal):
    q, k, v = (x.requires_grad_(True) for x in random_qkv(*shape, seed=shape[-2]))
    mask = None if padding is None else padding_mask(shape[:-2], shape[-2], padding)
    mine = hydra_attention_hand_backward(q, k, v, causal=causal, mask=mask)
    formula = hydra_attention(q, k, v, causal=causal, mask=mask)
    torch.testing.assert_close(mine, formula, rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(mine)
    for a, b in zip(
        torch.autograd.grad(mine, (q, k, v), upstream),
        torch.autograd.grad(formula, (q, k, v), upstream),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 5, 3), (2, 2, 4, 2)], ids=str)
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_hand_backward_passes_gradcheck(shape, causal):
    q, k, v = (x.requires_grad_(True) for x in random_qkv(*shape, seed=7))
    mask = padding_mask(shape[:-2], shape[-2], "middle") if shape[-2] > 2 else None
    assert torch.autograd.gradcheck(
        lambda q, k, v: hydra_attention_hand_backward(q, k, v, causal=causal, mask=mask),
        (q, k, v),
    )


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("tiny", ["none", "query", "key"])
def test_hand_backward_equals_autograd_including_vectors_below_eps(causal, tiny):
    """Covers the branch of the normalisation where ‖x‖ <= EPS (divisor clamped to EPS)."""
    generator = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 9, 6, generator=generator, dtype=torch.float64) for _ in range(3))
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, 6:] = False
    if tiny != "none":
        (q if tiny == "query" else k)[1, 3] = 1e-14  # a row shorter than EPS
    assert 1e-14 < EPS
    weights = torch.randn(2, 9, 6, generator=generator, dtype=torch.float64)
    grads = []
    for fn in (hydra_attention_hand_backward, hydra_attention):
        leaves = [x.clone().requires_grad_(True) for x in (q, k, v)]
        out = fn(*leaves, causal=causal, mask=mask)
        grads.append(torch.autograd.grad((out * weights).sum(), leaves))
    for mine, expected in zip(*grads, strict=True):
        torch.testing.assert_close(mine, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", ["left", "middle"])
def test_hand_backward_ignores_the_future_and_padding_contents(padding):
    q, k, v = random_qkv(2, 12, 8, seed=11)
    mask = padding_mask((2,), 12, padding)
    before = hydra_attention_hand_backward(q, k, v, causal=True, mask=mask)
    for t in range(11):
        changed = [x.clone() for x in (q, k, v)]
        for x in changed:
            x[:, t + 1 :] = torch.randn_like(x[:, t + 1 :]) * 10
        after = hydra_attention_hand_backward(*changed, causal=True, mask=mask)
        assert torch.equal(after[:, : t + 1], before[:, : t + 1])
    garbage = [x.clone() for x in (q, k, v)]
    for x in garbage:
        x[~mask] = float("nan")
    after = hydra_attention_hand_backward(*garbage, causal=True, mask=mask)
    assert torch.equal(after[mask], before[mask]) and (after[~mask] == 0).all()


def test_padding_inputs_get_exactly_zero_gradients_whatever_they_hold():
    q, k, v = (torch.randn(1, 5, 4, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, True, True, False, False]])
    with torch.no_grad():
        for x, junk in zip((q, k, v), (float("inf"), float("nan"), 1e30), strict=True):
            x[0, 3:] = junk
    out = hydra_attention_hand_backward(q, k, v, causal=True, mask=mask)
    for grad in torch.autograd.grad(out.sum(), (q, k, v)):
        assert torch.isfinite(grad[0, :3]).all()
        assert (grad[0, 3:] == 0).all()


def test_second_derivatives_are_refused_with_an_error_not_a_wrong_answer():
    q, k, v = (torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    out = hydra_attention_hand_backward(q, k, v)
    (grad_q,) = torch.autograd.grad((out**2).sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad_q.sum().backward()


def test_bad_inputs_raise_value_errors():
    q = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"q \(2, 5, 4\), k \(2, 6, 4\)"):
        hydra_attention_hand_backward(q, torch.randn(2, 6, 4), q)


@pytest.mark.parametrize("block", [1, 3, 8, 64])
@pytest.mark.parametrize("shape", [(1, 1, 4), (2, 7, 3), (2, 3, 16, 5), (1, 100, 2)])
def test_blocked_running_sum_equals_cumsum_forwards_and_backwards(shape, block):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(29))
    torch.testing.assert_close(running_sum(x, block=block), x.cumsum(dim=-2))
    suffix = x.flip(-2).cumsum(dim=-2).flip(-2)  # Σ_{s≥t} x_s, the obvious way
    torch.testing.assert_close(running_sum(x, reverse=True, block=block), suffix)


def test_blocked_running_sum_is_exactly_causal():
    """Later tokens change no earlier sum, not even in the last bit (and the reverse)."""
    x = torch.randn(2, 37, 5, generator=torch.Generator().manual_seed(31))
    later_changed, earlier_changed = x.clone(), x.clone()
    later_changed[:, 20:] *= 1e6
    earlier_changed[:, :17] *= 1e6
    assert torch.equal(running_sum(x)[:, :20], running_sum(later_changed)[:, :20])
    forward_sums = running_sum(x, reverse=True)[:, 17:]
    assert torch.equal(forward_sums, running_sum(earlier_changed, reverse=True)[:, 17:])


def test_blocked_running_sum_by_hand():
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])  # (n = 5, d = 1): 2 blocks of 3
    assert running_sum(x, block=3).flatten().tolist() == [1, 3, 6, 10, 15]
    assert running_sum(x, reverse=True, block=3).flatten().tolist() == [15, 14, 12, 9, 5]


@pytest.mark.parametrize("reverse", [False, True])
def test_running_sum_leaves_its_input_alone_unless_allowed_to_overwrite_it(reverse):
    x = torch.randn(2, 16, 3, generator=torch.Generator().manual_seed(37))
    original = x.clone()
    expected = running_sum(x, reverse=reverse, block=4)
    assert torch.equal(x, original)  # the default never writes into x
    scratch = x.clone()
    result = running_sum(scratch, reverse=reverse, block=4, overwrite=True)
    assert torch.equal(result, expected)
    assert result.data_ptr() == scratch.data_ptr()  # n = 16: 4 whole blocks, no copy made
    transposed = x.transpose(0, 1).contiguous().transpose(0, 1)  # not contiguous: copied
    assert torch.equal(running_sum(transposed, reverse=reverse, block=4, overwrite=True), expected)
    assert torch.equal(transposed, original)
    ragged = x[:, :13].clone()  # 13 tokens: padded to whole blocks, so copied
    assert torch.equal(
        running_sum(ragged, reverse=reverse, block=4, overwrite=True),
        running_sum(x[:, :13], reverse=reverse, block=4),
    )
    assert torch.equal(ragged, original[:, :13])


@pytest.mark.parametrize("padding", [None, "middle"])
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_hydra_without_gradients_gives_the_training_forward_exactly_and_spares_its_inputs(
    padding, causal
):
    q, k, v = random_qkv(2, 24, 8, seed=41, dtype=torch.float32)
    mask = None if padding is None else padding_mask((2,), 24, padding)
    originals = [x.clone() for x in (q, k, v)]
    leaves = [x.clone().requires_grad_(True) for x in (q, k, v)]
    training = hydra_attention_hand_backward(*leaves, causal=causal, mask=mask)  # keeps q̂, k̂
    with torch.no_grad():
        evaluation = hydra_attention_hand_backward(q, k, v, causal=causal, mask=mask)  # in place
    assert torch.equal(evaluation, training.detach())  # same operations, same rounding
    assert all(torch.equal(x, original) for x, original in zip((q, k, v), originals, strict=True))
    assert not evaluation.requires_grad and training.grad_fn is not None


@NEEDS_CUDA
@pytest.mark.parametrize("causal", [True, False])
def test_hand_backward_runs_in_float32_under_cuda_mixed_precision(causal):
    q, k, v = (x.to("cuda", torch.bfloat16).requires_grad_() for x in random_qkv(2, 300, 8))
    mask = padding_mask((2,), 300, "left").cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = hydra_attention_hand_backward(q, k, v, causal=causal, mask=mask)
    assert out.dtype == torch.float32
    expected = hydra_attention(q.float(), k.float(), v.float(), causal=causal, mask=mask)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert q.grad.dtype == torch.bfloat16 and torch.isfinite(q.grad).all()
