"""The attention kernels do what their docstrings say: proofs by comparison, not smoke tests."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from devices import NEEDS_CUDA
from tensor_sizes import RecordLargestIntermediate

from hydrarec_minimal.attention import (
    ATTENTION_KERNELS,
    CHUNK,
    EPS,
    SelfAttention,
    causal_kernel_sum,
    get_attention_kernel,
    hydra_attention,
    hydra_attention_reference,
)

KINDS = sorted(ATTENTION_KERNELS)
DIRECTIONS = [pytest.param(True, id="causal"), pytest.param(False, id="bidirectional")]


def random_qkv(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=generator, dtype=dtype) for _ in range(3))


def padding_mask(batch_shape: tuple[int, ...], n: int, where: str) -> torch.Tensor:
    """Bool mask (*batch_shape, n) with about a third of the tokens padded on one side or inside."""
    mask = torch.ones(*batch_shape, n, dtype=torch.bool)
    cut = max(1, n // 3)
    if where == "left":
        mask[..., :cut] = False
    elif where == "right":
        mask[..., n - cut :] = False
    elif where == "middle":
        mask[..., cut : 2 * cut] = False
    return mask


# ----------------------------------------------------------------------------------------------
# Naive quadratic versions of the comparison kernels: explicit n x n weights and masks
# ----------------------------------------------------------------------------------------------


def allowed_pairs(n: int, causal: bool, mask: torch.Tensor | None) -> torch.Tensor:
    """allowed[..., t, s]: may query t see key s?"""
    allowed = torch.ones(n, n, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()
    if mask is not None:
        allowed = allowed & mask[..., None, :]
    return allowed


def naive_softmax(q, k, v, causal, mask):
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~allowed_pairs(q.shape[-2], causal, mask), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def naive_linear(q, k, v, causal, mask):
    weights = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-1, -2)
    weights = weights * allowed_pairs(q.shape[-2], causal, mask)
    return weights @ v / weights.sum(dim=-1, keepdim=True)


def naive_linrec(q, k, v, causal, mask):
    """LinRec with the key column norm of query t taken over exactly the keys t may see."""
    allowed = allowed_pairs(q.shape[-2], causal, mask).to(q.dtype)  # (..., t, s)
    q_features = F.normalize(F.elu(q), dim=-1)
    k_features = F.elu(k)
    # column norm per query t and feature j: sqrt(sum over allowed s of k[s, j]^2)
    norms = (allowed @ k_features.square() + EPS**2).sqrt()  # (..., t, d); EPS as documented
    weights = torch.einsum("...td,...sd,...ts->...ts", q_features / norms, k_features, allowed)
    return weights @ v


NAIVE = {"softmax": naive_softmax, "linear": naive_linear, "linrec": naive_linrec}


def real_rows(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x[mask]


# ----------------------------------------------------------------------------------------------
# Hydra: fast == reference, values and gradients
# ----------------------------------------------------------------------------------------------

SHAPES = [(1, 1, 1), (1, 1, 5), (2, 7, 1), (3, 9, 4), (2, 16, 8), (2, 3, 6, 5), (2, 2, 2, 5, 3)]
PADDINGS = [None, "left", "right", "middle"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_hydra_matches_reference_values_and_gradients(shape, padding, causal):
    q, k, v = random_qkv(*shape, seed=len(shape) * 100 + shape[-2])
    mask = None if padding is None else padding_mask(shape[:-2], shape[-2], padding)
    for x in (q, k, v):
        x.requires_grad_(True)

    fast = hydra_attention(q, k, v, causal=causal, mask=mask)
    slow = hydra_attention_reference(q, k, v, causal=causal, mask=mask)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)

    upstream = torch.randn_like(fast)
    fast_grads = torch.autograd.grad(fast, (q, k, v), upstream)
    slow_grads = torch.autograd.grad(slow, (q, k, v), upstream)
    for fast_grad, slow_grad in zip(fast_grads, slow_grads, strict=True):
        torch.testing.assert_close(fast_grad, slow_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 5, 3), (2, 2, 4, 2)], ids=str)
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_hydra_gradients_pass_gradcheck(shape, causal):
    q, k, v = (x.requires_grad_(True) for x in random_qkv(*shape, seed=7))
    mask = padding_mask(shape[:-2], shape[-2], "middle") if shape[-2] > 2 else None
    for function in (hydra_attention, hydra_attention_reference):
        assert torch.autograd.gradcheck(
            lambda q, k, v, f=function: f(q, k, v, causal=causal, mask=mask), (q, k, v)
        )


def test_hydra_is_cosine_weighted_sum_by_hand():
    """A 2-token, 2-feature case worked out on paper."""
    q = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]], dtype=torch.float64)  # q̂ = (.6,.8), (1,0)
    k = torch.tensor([[[0.0, 2.0], [1.0, 1.0]]], dtype=torch.float64)  # k̂ = (0,1), (.7071,.7071)
    v = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64)
    r = 2**-0.5
    kv = [[0.0, 2.0], [3 * r, 4 * r]]
    causal_expected = [[0.6 * kv[0][0], 0.8 * kv[0][1]], [1.0 * (kv[0][0] + kv[1][0]), 0.0]]
    both_expected = [[0.6 * (kv[0][0] + kv[1][0]), 0.8 * (kv[0][1] + kv[1][1])], [3 * r, 0.0]]
    torch.testing.assert_close(
        hydra_attention(q, k, v, causal=True)[0], torch.tensor(causal_expected, dtype=torch.float64)
    )
    torch.testing.assert_close(
        hydra_attention(q, k, v)[0], torch.tensor(both_expected, dtype=torch.float64)
    )


# ----------------------------------------------------------------------------------------------
# The comparison kernels against their naive quadratic forms
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["softmax", "linear", "linrec"])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_kernel_matches_naive_quadratic_version(kind, padding, causal):
    q, k, v = random_qkv(2, 3, 11, 6, seed=3)
    mask = None if padding is None else padding_mask((2, 3), 11, padding)
    fast = ATTENTION_KERNELS[kind](q, k, v, causal=causal, mask=mask)
    slow = NAIVE[kind](q, k, v, causal, mask)
    torch.testing.assert_close(real_rows(fast, mask), real_rows(slow, mask), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("chunk", [1, 3, 4, 11, 64])
def test_chunked_causal_sum_equals_the_masked_quadratic_sum(chunk):
    q, k = random_qkv(2, 11, 5, seed=23)[:2]
    v = torch.randn(2, 11, 3, dtype=torch.float64)
    expected = (q @ k.transpose(-1, -2)).tril() @ v
    torch.testing.assert_close(causal_kernel_sum(q, k, v, chunk=chunk), expected)


# ----------------------------------------------------------------------------------------------
# Properties every kernel must have
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("padding", [None, "left", "middle"])
def test_causal_outputs_ignore_the_future(kind, padding):
    n = 12
    q, k, v = random_qkv(2, n, 8, seed=11)
    mask = None if padding is None else padding_mask((2,), n, padding)
    kernel = ATTENTION_KERNELS[kind]
    before = kernel(q, k, v, causal=True, mask=mask)
    for t in range(n - 1):
        changed = [x.clone() for x in (q, k, v)]
        for x in changed:
            x[:, t + 1 :] = torch.randn_like(x[:, t + 1 :]) * 10
        after = kernel(*changed, causal=True, mask=mask)
        torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_outputs_do_see_the_future(kind):
    """The other side of the causal test: it would pass trivially if nothing saw anything."""
    q, k, v = random_qkv(1, 6, 4, seed=5)
    kernel = ATTENTION_KERNELS[kind]
    changed_v = v.clone()
    changed_v[:, -1] += 1.0
    assert not torch.allclose(kernel(q, k, v)[:, 0], kernel(q, k, changed_v)[:, 0])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("padding", ["left", "right", "middle"])
@pytest.mark.parametrize("causal", DIRECTIONS)
@pytest.mark.parametrize("garbage", [1e3, float("inf"), float("nan")])
def test_padding_contents_never_reach_real_tokens(kind, padding, causal, garbage):
    q, k, v = random_qkv(2, 10, 4, seed=13)
    mask = padding_mask((2,), 10, padding)
    kernel = ATTENTION_KERNELS[kind]
    before = kernel(q, k, v, causal=causal, mask=mask)
    changed = [x.clone() for x in (q, k, v)]
    for x in changed:
        x[~mask] = garbage * torch.rand_like(x[~mask])
    after = kernel(*changed, causal=causal, mask=mask)
    torch.testing.assert_close(after[mask], before[mask], rtol=0, atol=1e-12)
    assert torch.all(after[~mask] == 0), "padding outputs are defined to be zero"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zeroed", ["q", "k", "both"])
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_zero_queries_or_keys_give_finite_outputs_and_gradients(kind, zeroed, causal):
    q, k, v = random_qkv(2, 6, 4, seed=17, dtype=torch.float32)
    if zeroed in ("q", "both"):
        q[:, 2:4] = 0
    if zeroed in ("k", "both"):
        k[:, :3] = 0
    q, k, v = (x.requires_grad_(True) for x in (q, k, v))
    out = ATTENTION_KERNELS[kind](q, k, v, causal=causal, mask=padding_mask((2,), 6, "right"))
    assert torch.isfinite(out).all()
    out.sum().backward()
    for x in (q, k, v):
        assert torch.isfinite(x.grad).all()


def test_long_causal_sequence_in_float32_stays_within_summation_error_bound():
    """n = 65,536 causal Hydra attention in float32 against float64.

    The only error that grows with n is the prefix sum c_t = Σ_{s≤t} k̂_s ⊙ v_s. Summing t
    terms in floating point with unit roundoff u (2⁻²⁴ in float32) is off by at most about
    t·u·Σ_{s≤t} |k̂_s ⊙ v_s| (Higham, *Accuracy and Stability of Numerical Algorithms*, §4.2),
    whatever the order of the additions. So the tolerance for output t is

        |out32_t − out64_t| ≤ |q̂_t| ⊙ (t + 8)·u·Σ_{s≤t} |k̂_s ⊙ v_s|,

    where the +8 covers the few roundings of normalising and multiplying. An implementation
    that loses more than this (e.g. adds the sum up wrongly or in half precision) fails.
    """
    n, d = 65_536, 8
    q, k, v = random_qkv(1, n, d, seed=19, dtype=torch.float32)
    out32 = hydra_attention(q, k, v, causal=True)
    q64, k64, v64 = (x.double() for x in (q, k, v))  # exactly the same inputs
    out64 = hydra_attention(q64, k64, v64, causal=True)
    q_hat = F.normalize(q64, dim=-1)
    magnitude = (F.normalize(k64, dim=-1) * v64).abs().cumsum(dim=-2)
    steps = torch.arange(1, n + 1, dtype=torch.float64)[:, None] + 8
    bound = q_hat.abs() * steps * 2.0**-24 * magnitude
    error = (out32.double() - out64).abs()
    assert torch.all(error <= bound), f"worst error/bound ratio {(error / bound).max():.2f}"
    # The bound is not vacuous: outputs at the end of the sequence are far larger than it.
    assert out64[0, -1].abs().max() > 100 * bound[0, -1].max() / n**0.5


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_device_are_preserved(kind, dtype):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        q, k, v = (x.to(device=device, dtype=dtype) for x in random_qkv(2, 5, 4))
        mask = padding_mask((2,), 5, "left").to(device)
        out = ATTENTION_KERNELS[kind](q, k, v, causal=True, mask=mask)
        assert out.dtype == dtype and out.device == q.device and out.shape == q.shape


@NEEDS_CUDA
@pytest.mark.parametrize("causal", [True, False])
def test_hydra_runs_in_float32_under_cuda_mixed_precision(causal):
    # Inside autocast the layers around it hand Hydra bfloat16; it must compute in float32.
    q, k, v = (x.to("cuda", torch.bfloat16).requires_grad_() for x in random_qkv(2, 300, 8))
    mask = padding_mask((2,), 300, "left").cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = hydra_attention(q, k, v, causal=causal, mask=mask)
    assert out.dtype == torch.float32
    expected = hydra_attention(q.float(), k.float(), v.float(), causal=causal, mask=mask)
    assert torch.equal(out, expected)
    out.sum().backward()
    assert q.grad.dtype == torch.bfloat16 and torch.isfinite(q.grad).all()


@pytest.mark.parametrize("kind", KINDS)
def test_bad_shapes_raise_value_errors_that_name_the_shapes(kind):
    kernel = ATTENTION_KERNELS[kind]
    q = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"q \(2, 5, 4\), k \(2, 6, 4\), v \(2, 5, 4\)"):
        kernel(q, torch.randn(2, 6, 4), q)
    with pytest.raises(ValueError, match=r"got mask \(2, 4\)"):
        kernel(q, q, q, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        kernel(torch.randn(5), torch.randn(5), torch.randn(5))
    with pytest.raises(ValueError, match="bool"):
        kernel(q, q, q, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="same dtype; got torch.float32, torch.float64"):
        kernel(q, q.double(), q)


@pytest.mark.parametrize(
    "kind, budget",
    [("hydra", lambda n, d: 2 * n * d), ("linear", lambda n, d: n * (CHUNK + d * d) + d * d)],
)
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_fast_paths_never_build_an_n_by_n_tensor(kind, budget, causal):
    n, d = 2048, 4  # n x n = 4,194,304 elements; n*(CHUNK + d*d) = 163,840
    q, k, v = random_qkv(1, n, d, dtype=torch.float32)
    mask = padding_mask((1,), n, "left")
    with RecordLargestIntermediate() as record:
        ATTENTION_KERNELS[kind](q, k, v, causal=causal, mask=mask)
    assert record.largest <= budget(n, d)
    with RecordLargestIntermediate() as record:  # and the recorder does notice n x n tensors
        hydra_attention_reference(q, k, v, causal=causal, mask=mask)
    assert record.largest >= n * n


# ----------------------------------------------------------------------------------------------
# The layer
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("causal", DIRECTIONS)
def test_self_attention_layer_uses_its_kernel_and_direction(kind, causal):
    torch.manual_seed(0)
    layer = SelfAttention(dim=8, kind=kind, causal=causal, heads=2).double()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    mask = padding_mask((2,), 7, "left")
    out = layer(x, mask)
    assert out.shape == x.shape
    q, k, v = layer.to_qkv(x).chunk(3, dim=-1)
    kernel = get_attention_kernel(kind)
    if kind == "hydra":  # d heads of one feature, but q and k are normalised over all d features
        expected = kernel(q, k, v, causal=causal, mask=mask)
    else:
        split = lambda t: t.reshape(2, 7, 2, 4).transpose(1, 2)  # noqa: E731  (b, h, n, e)
        expected = kernel(
            split(q), split(k), split(v), causal=causal, mask=mask[:, None].expand(-1, 2, -1)
        )
        expected = expected.transpose(1, 2).reshape(2, 7, 8)
    torch.testing.assert_close(out, layer.to_out(expected))
    assert layer.heads == (8 if kind == "hydra" else 2)


def test_self_attention_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown attention 'cosine'"):
        SelfAttention(dim=8, kind="cosine")
    with pytest.raises(ValueError, match="heads must divide dim"):
        SelfAttention(dim=8, kind="softmax", heads=3)


def test_self_attention_runs_the_kernel_it_is_given():
    calls = []

    def recording(q, k, v, causal=False, mask=None):
        calls.append((q.shape, causal, mask is None))
        return hydra_attention(q, k, v, causal=causal, mask=mask)

    torch.manual_seed(0)
    plain = SelfAttention(dim=8, kind="hydra", causal=True)
    given = SelfAttention(dim=8, kind="hydra", causal=True, kernel=recording)
    given.load_state_dict(plain.state_dict())
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(given(x), plain(x), rtol=0, atol=0)
    assert calls == [((2, 5, 8), True, True)]
    assert "recording" in repr(given) and "recording" not in repr(plain)


def test_right_padding_is_recognised_so_causal_softmax_needs_no_square_mask():
    from hydrarec_minimal.attention import is_right_padded

    assert is_right_padded(torch.tensor([[True, True, False], [True, False, False]]))
    assert is_right_padded(torch.ones(2, 4, dtype=torch.bool))
    assert not is_right_padded(torch.tensor([[False, True, True]]))  # left
    assert not is_right_padded(torch.tensor([[True, False, True]]))  # middle
