"""The chunked cross-entropy is the full cross-entropy, without the (positions x items) matrix."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tensor_sizes import RecordLargestIntermediate

from hydrarec_minimal.fast.chunked_loss import chunked_cross_entropy
from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.train import seed_everything, sequence_loss


def test_gradients_match_finite_differences_with_a_ragged_last_chunk():
    generator = torch.Generator().manual_seed(0)
    hidden, weights = (torch.randn(*shape, generator=generator, dtype=torch.float64)
                       for shape in ((10, 5), (7, 5)))  # fmt: skip
    bias = torch.randn(7, generator=generator, dtype=torch.float64)
    targets = torch.randint(1, 7, (10,), generator=generator)
    inputs = tuple(x.requires_grad_() for x in (hidden, weights, bias))
    loss = lambda h, w, b: chunked_cross_entropy(h, w, b, targets, chunk=3)  # noqa: E731
    assert torch.autograd.gradcheck(loss, inputs)
    scores = (hidden @ weights.T + bias).detach().clone()
    scores[:, 0] = float("-inf")
    assert loss(*inputs).item() == pytest.approx(F.cross_entropy(scores, targets).item(), rel=1e-12)


@pytest.mark.parametrize("item_bias", [False, True])
def test_training_loss_and_every_gradient_equal_the_plain_cross_entropy(item_bias):
    seed_everything(0)
    config = ModelConfig(num_items=50, max_len=12, dim=16, dropout=0.0, item_bias=item_bias)
    model = SequentialRecommender(config)
    if item_bias:
        torch.nn.init.normal_(model.item_bias)  # not zero: its gradient must be right too
    items = torch.randint(1, 51, (6, 13))
    items[:2, 9:] = 0  # padding: no target there
    results = {}
    for loss in ("ce", "ce-chunked"):
        model.zero_grad()
        value = sequence_loss(model, items[:, :-1], items[:, 1:], loss)
        value.backward()
        results[loss] = (value.item(), {n: p.grad.clone() for n, p in model.named_parameters()})
    (plain, plain_grads), (chunked, chunked_grads) = results["ce"], results["ce-chunked"]
    assert chunked == pytest.approx(plain, rel=1e-6)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(chunked_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_the_largest_tensor_built_is_one_chunk_of_scores():
    m, items, chunk = 4096, 300, 256
    hidden = torch.randn(m, 8, requires_grad=True)
    weights = torch.randn(items + 1, 8, requires_grad=True)
    targets = torch.randint(1, items + 1, (m,))
    with RecordLargestIntermediate() as record:
        chunked_cross_entropy(hidden, weights, None, targets, chunk=chunk).backward()
    assert record.largest <= chunk * (items + 1)
    with RecordLargestIntermediate() as record:  # the recorder sees the plain loss's matrix
        F.cross_entropy(hidden @ weights.T, targets).backward()
    assert record.largest >= m * (items + 1)


def test_no_gradient_work_when_nothing_needs_one():
    hidden, weights = torch.randn(64, 4), torch.randn(9, 4)
    targets = torch.randint(1, 9, (64,))
    value = chunked_cross_entropy(hidden, weights, None, targets, chunk=16)
    assert not value.requires_grad
    scores = hidden @ weights.T
    scores[:, 0] = float("-inf")
    assert value.item() == pytest.approx(F.cross_entropy(scores, targets).item(), rel=1e-6)


def test_bad_arguments_raise_value_errors():
    hidden, weights, targets = torch.randn(4, 3), torch.randn(5, 3), torch.ones(4, dtype=torch.long)
    with pytest.raises(ValueError, match="chunk must be at least 1"):
        chunked_cross_entropy(hidden, weights, None, targets, chunk=0)
    with pytest.raises(ValueError, match=r"\(4, 3\) and \(3,\)"):
        chunked_cross_entropy(hidden, weights, None, targets[:3])
