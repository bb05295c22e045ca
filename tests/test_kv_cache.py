"""SASRec's key/value-cache step gives the scores of recomputing the whole history."""

from __future__ import annotations

import pytest
import torch

from hydrarec_minimal.course.kv_cache import cached_step, start_cache, step_costs
from hydrarec_minimal.course.scaling import build_model, random_histories


def test_every_cached_step_scores_as_recomputing_the_history():
    sasrec = build_model("softmax", 12, num_items=30, dim=16).eval()
    history = random_histories(3, 9, num_items=30)
    cache = start_cache(sasrec, users=3, capacity=9)
    with torch.no_grad():
        for t in range(9):
            cache, scores = cached_step(sasrec, cache, history[:, t])
            expected = sasrec.score_last(history[:, : t + 1])
            torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)
    assert cache.seen == 9
    assert cache.numbers_per_user() == 2 * 2 * 9 * 16  # keys and values, 2 layers, 9 items, d


def test_the_cache_refuses_other_models_and_overflow():
    with pytest.raises(ValueError, match="causal softmax"):
        start_cache(build_model("hydra", 8, num_items=10, dim=8), users=1, capacity=4)
    sasrec = build_model("softmax", 8, num_items=10, dim=8).eval()
    with pytest.raises(ValueError, match="capacity must be in 1..max_len=8"):
        start_cache(sasrec, users=1, capacity=9)
    cache = start_cache(sasrec, users=1, capacity=1)
    with torch.no_grad():
        cache, _ = cached_step(sasrec, cache, torch.tensor([3]))
        with pytest.raises(ValueError, match="full"):
            cached_step(sasrec, cache, torch.tensor([4]))


def test_step_costs_report_the_state_each_model_keeps():
    hydra = build_model("hydra", 20, num_items=10, dim=8)
    sasrec = build_model("softmax", 20, num_items=10, dim=8)
    costs = step_costs(hydra, sasrec, [4, 16], repeats=1)
    assert costs["hydra state numbers"].tolist() == [2 * 8, 2 * 8]  # layers x dim, whatever n
    assert costs["SASRec cache numbers"].tolist() == [2 * 2 * 4 * 8, 2 * 2 * 16 * 8]
    assert (costs["hydra step seconds"] > 0).all() and (costs["ratio"] > 0).all()
