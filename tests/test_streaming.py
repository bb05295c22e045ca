"""Streaming causal HydraRec equals the full forward pass, prefix by prefix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.streaming import StreamState, start_state, step


def hydra_model(max_len: int = 16, num_items: int = 40, layers: int = 2) -> SequentialRecommender:
    torch.manual_seed(0)
    config = ModelConfig(
        num_items=num_items, max_len=max_len, dim=16, layers=layers, item_bias=True
    )
    return SequentialRecommender(config).double().eval()


def stream_all(model, histories: torch.Tensor) -> list[torch.Tensor]:
    """Scores after each step: list of (batch, num_items + 1)."""
    state = start_state(model, histories.shape[0])
    outputs = []
    for t in range(histories.shape[1]):
        state, scores = step(model, state, histories[:, t])
        outputs.append(scores)
    return outputs


def test_every_prefix_matches_the_full_forward_pass():
    model = hydra_model()
    histories = torch.randint(1, 41, (5, 16))
    for t, scores in enumerate(stream_all(model, histories)):
        expected = model.score_last(histories[:, : t + 1])
        torch.testing.assert_close(scores, expected, rtol=1e-10, atol=1e-10)


def test_past_max_len_equals_a_model_whose_last_position_repeats():
    model = hydra_model(max_len=6)
    histories = torch.randint(1, 41, (3, 15))
    extended = hydra_model(max_len=15)
    extended.load_state_dict(
        {
            **model.state_dict(),
            "position_embedding.weight": torch.cat(
                [
                    model.position_embedding.weight,
                    model.position_embedding.weight[-1:].expand(9, -1),
                ]
            ),
        }
    )
    streamed = stream_all(model, histories)
    for t in range(15):
        torch.testing.assert_close(
            streamed[t], extended.score_last(histories[:, : t + 1]), rtol=1e-10, atol=1e-10
        )
    # and past max_len this is (as documented) not the truncated model's answer
    assert not torch.allclose(streamed[-1], model.score_last(histories[:, -6:]))


def test_state_save_and_restore_continues_identically(tmp_path):
    model = hydra_model()
    histories = torch.randint(1, 41, (2, 10))
    state = start_state(model, 2)
    for t in range(5):
        state, _ = step(model, state, histories[:, t])
    state.save(tmp_path / "state.pt")
    restored = StreamState.load(tmp_path / "state.pt")
    for t in range(5, 10):
        state, scores = step(model, state, histories[:, t])
        restored, restored_scores = step(model, restored, histories[:, t])
        assert torch.equal(scores, restored_scores)
    assert state.sums.shape == (2, 2, 16)  # layers x batch x dim: independent of history length
    assert scores.is_inference() and state.sums.is_inference()  # no autograd bookkeeping


def test_only_causal_hydra_models_without_previous_item_in_eval_mode_can_stream():
    for attention, direction in [("softmax", "causal"), ("hydra", "bidirectional")]:
        model = SequentialRecommender(
            ModelConfig(num_items=5, attention=attention, direction=direction)
        )
        with pytest.raises(ValueError, match="streaming needs a causal hydra model"):
            start_state(model, 1)
    looking_back = SequentialRecommender(ModelConfig(num_items=5, previous_item=True))
    with pytest.raises(ValueError, match="does not support previous_item"):
        start_state(looking_back, 1)
    model = hydra_model()
    state = start_state(model, 2)
    with pytest.raises(ValueError, match=r"item ids must be in 1\.\.40"):
        step(model, state, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"shape \(batch,\) = \(2,\)"):
        step(model, state, torch.tensor([1, 2, 3]))
    model.train()
    with pytest.raises(ValueError, match="model.eval"):
        step(model, state, torch.tensor([1, 2]))


def test_streaming_matches_full_forward_on_real_movielens_users(ml100k):
    """Every prefix, up to max_len = 200, of the 16 longest ML-100K histories (float64).

    Tolerance 1e-9 (absolute and relative): the two computations add the same numbers in a
    different order (a running sum vs a prefix sum over the batch), so they agree to float64
    roundoff accumulated over 200 steps and 2 layers, ~1e-13 in practice.
    """
    model = hydra_model(max_len=200, num_items=ml100k.num_items)
    longest = sorted(ml100k.split.train, key=len)[-16:]
    histories = torch.as_tensor(np.stack([h[:200] for h in longest]))  # (16, 200)
    streamed = stream_all(model, histories)
    with torch.no_grad():
        for t in range(200):
            expected = model.score_last(histories[:, : t + 1])
            torch.testing.assert_close(streamed[t], expected, rtol=1e-9, atol=1e-9)
