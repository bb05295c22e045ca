"""The recommender model: switches, causality, positions, scores."""

from __future__ import annotations

import pytest
import torch

from hydrarec_minimal.attention import ATTENTION_KERNELS
from hydrarec_minimal.model import (
    ModelConfig,
    SequentialRecommender,
    positions_from_mask,
    previous_items,
)

KINDS = sorted(ATTENTION_KERNELS)


def make_model(kind: str, direction: str, **overrides) -> SequentialRecommender:
    torch.manual_seed(0)
    settings = dict(num_items=30, attention=kind, direction=direction, max_len=12, dim=16)
    model = SequentialRecommender(ModelConfig(**{**settings, **overrides})).double()
    return model.eval()


def test_positions_count_real_tokens_from_the_start_whatever_the_padding():
    mask = torch.tensor([[False, False, True, True, True], [True, True, True, False, False]])
    assert positions_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 2, 2]]


def test_previous_items_shift_right_with_padding_first():
    items = torch.tensor([[0, 0, 5, 7, 9], [4, 6, 8, 0, 0]])
    assert previous_items(items).tolist() == [[0, 0, 0, 5, 7], [0, 4, 6, 8, 0]]


def with_random_previous_item_weights(model: SequentialRecommender) -> SequentialRecommender:
    """The trained state ``previous_item`` is for: its (zero-initialised) matrix made random."""
    with torch.no_grad():
        model.previous_item.weight.normal_(std=0.5)
    return model


@pytest.mark.parametrize("direction", ["causal", "bidirectional"])
def test_previous_item_starts_as_the_plain_model(direction):
    items = torch.tensor([[0, 0, 3, 8, 1, 31], [2, 4, 6, 8, 10, 31]])
    plain = make_model("hydra", direction)(items)
    torch.testing.assert_close(make_model("hydra", direction, previous_item=True)(items), plain)


def test_previous_item_lets_bidirectional_hydra_see_the_order_of_the_history():
    """Without positions, bidirectional Hydra sees a history as a set: the [MASK] at the end
    gets the same scores for any order of the items. With the previous item it does not."""
    history = torch.tensor([[4, 9, 2, 7, 31]])  # 31 = the mask token
    reordered = torch.tensor([[7, 2, 9, 4, 31]])
    for previous_item in (False, True):
        model = make_model("hydra", "bidirectional", previous_item=previous_item)
        with torch.no_grad():
            model.position_embedding.weight.zero_()
        if previous_item:
            with_random_previous_item_weights(model)
        same = torch.allclose(model.score_last(history), model.score_last(reordered))
        assert same is not previous_item


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("previous_item", [False, True])
def test_causal_scores_at_t_ignore_later_items(kind, previous_item):
    model = make_model(kind, "causal", previous_item=previous_item)
    if previous_item:
        with_random_previous_item_weights(model)
    items = torch.randint(1, 31, (3, 10))
    items[1, :4] = 0  # a left-padded sequence
    before = model(items)
    for t in range(9):
        changed = items.clone()
        changed[:, t + 1 :] = torch.randint(1, 31, changed[:, t + 1 :].shape)
        changed[1, :4] = 0
        after = model(changed)
        torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1])


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_scores_do_depend_on_later_items(kind):
    model = make_model(kind, "bidirectional")
    items = torch.randint(1, 31, (2, 8))
    changed = items.clone()
    changed[:, -1] = items[:, -1] % 30 + 1
    assert not torch.allclose(model(items)[:, 0], model(changed)[:, 0])


@pytest.mark.parametrize("direction", ["causal", "bidirectional"])
def test_padding_side_does_not_change_the_recommendation(direction):
    model = make_model("hydra", direction)
    history = torch.tensor([5, 9, 2, 7])
    left = torch.cat([torch.zeros(3, dtype=torch.long), history])[None]
    right = torch.cat([history, torch.zeros(3, dtype=torch.long)])[None]
    torch.testing.assert_close(model.score_last(left), model.score_last(right))


def test_scores_cover_every_item_and_never_padding():
    model = make_model("hydra", "causal", item_bias=True)
    scores = model.score_last(torch.tensor([[0, 3, 4]]))
    assert scores.shape == (1, 31)
    assert scores[0, 0] == float("-inf") and torch.isfinite(scores[0, 1:]).all()


def test_too_long_sequences_and_bad_configs_are_refused():
    model = make_model("hydra", "causal")
    with pytest.raises(ValueError, match="exceeds max_len=12"):
        model(torch.ones(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown attention 'cosine'"):
        ModelConfig(num_items=5, attention="cosine")
    with pytest.raises(ValueError, match="unknown direction 'sideways'"):
        ModelConfig(num_items=5, direction="sideways")
    with pytest.raises(ValueError, match="dim must be at least 1"):
        ModelConfig(num_items=5, dim=0)


def test_configs_from_older_results_files_and_checkpoints_still_load():
    config = ModelConfig(num_items=30, max_len=12, dim=16)
    assert ModelConfig.from_dict(config.to_dict()) == config
    older = config.to_dict() | {"fused_attention": True}  # a retired field
    assert ModelConfig.from_dict(older) == config
    with pytest.raises(TypeError, match="cosine"):
        ModelConfig.from_dict(config.to_dict() | {"cosine": 1})


def test_the_model_runs_the_kernel_it_is_given_in_every_block():
    calls = []

    def recording(q, k, v, causal=False, mask=None):
        calls.append(causal)
        return ATTENTION_KERNELS["hydra"](q, k, v, causal=causal, mask=mask)

    plain = make_model("hydra", "causal")
    given = SequentialRecommender(plain.config, kernel=recording).double().eval()
    given.load_state_dict(plain.state_dict())
    items = torch.tensor([[0, 3, 4, 5]])
    torch.testing.assert_close(given(items), plain(items), rtol=0, atol=0)
    assert calls == [True] * plain.config.layers
