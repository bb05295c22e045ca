"""Every exercise checker passes its solution, reports a stub as not attempted, and rejects at
least one plausible wrong answer (a checker that cannot fail checks nothing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hydrarec_minimal.attention import hydra_attention
from hydrarec_minimal.course import exercises, solutions


def stub(*args):
    raise NotImplementedError


def swapped_orders(n, d):
    return solutions.product_order_costs(n, d)[::-1]


def left_first(q, k, v):
    weights = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-2, -1)
    return weights / weights.sum(dim=-1, keepdim=True) @ v


def unnormalised_right_first(q, k, v):
    return (F.elu(q) + 1) @ ((F.elu(k) + 1).transpose(-2, -1) @ v)


def slope_without_logs(n, seconds):
    return float(np.polyfit(n, seconds, 1)[0])


def output_before_update(state, q_t, k_t, v_t):
    out = F.normalize(q_t, dim=-1) * state
    return state + F.normalize(k_t, dim=-1) * v_t, out


def hydra_itself(q, k, v):
    return hydra_attention(q, k, v)


def right_always_harmless(side, causal):
    return side == "right"


def without_the_diagonal(n):
    return torch.ones(n, n, dtype=torch.bool).tril(-1)


def transposed_mask(n):
    return torch.ones(n, n, dtype=torch.bool).triu()


def never_leaks(attention):
    return False


def only_the_last_token(attention):
    """Perturbs only the last token and looks only at the first output: misses a t + 1 leak."""
    q, k, v = torch.randn(3, 2, 8, 4, dtype=torch.float64)
    changed = [x.clone() for x in (q, k, v)]
    for x in changed:
        x[:, -1] = 100.0
    return not torch.equal(attention(q, k, v)[:, 0], attention(*changed)[:, 0])


def includes_token_t(attention):
    """Perturbs token t itself too: every kernel 'leaks'."""
    q, k, v = torch.randn(3, 2, 8, 4, dtype=torch.float64)
    changed = [x.clone() for x in (q, k, v)]
    for x in changed:
        x[:, 3:] = 100.0
    return not torch.equal(attention(q, k, v)[:, :4], attention(*changed)[:, :4])


def prefix_instead_of_suffix(q, k, v, grad_out, causal):
    weighted = grad_out * F.normalize(q, dim=-1)
    reach = weighted.cumsum(-2) if causal else weighted.sum(-2, keepdim=True)
    return reach * F.normalize(k, dim=-1)


def swapped_targets(sequence):
    return sequence[:-2], sequence[-1], sequence[-2]


def pessimistic(scores, targets):
    return ((scores >= scores.gather(1, targets[:, None])).sum(1) - 1).double()


def optimistic(scores, targets):
    return (scores > scores.gather(1, targets[:, None])).sum(1).double()


def first_items_kept(histories, max_len):
    return solutions.causal_inputs_and_targets([h[: max_len + 1] for h in histories], max_len)


def targets_not_shifted(histories, max_len):
    inputs, _ = solutions.causal_inputs_and_targets(histories, max_len)
    return inputs, inputs


def summed_bce(hidden, item_vectors, targets, negatives):
    return 2 * len(targets) * solutions.bce_one_negative(hidden, item_vectors, targets, negatives)


def swapped_labels(hidden, item_vectors, targets, negatives):
    return solutions.bce_one_negative(hidden, item_vectors, negatives, targets)


def no_cutoff(rank, k):
    return 1 / np.log2(rank + 2)


def cutoff_off_by_one(rank, k):
    return 1 / np.log2(rank + 2) if rank <= k else 0.0


def last_column_masked(items, mask_token):
    inputs, targets = items.clone(), torch.zeros_like(items)
    inputs[:, -1], targets[:, -1] = mask_token, items[:, -1]
    return inputs, targets


def context_with_padding(q, k, v, mask):
    return (F.normalize(k, dim=-1) * v).sum(dim=1, keepdim=True)


def ranks_as_one_based(ranks_a, ranks_b):
    def ndcg(ranks):
        return np.where(ranks < 10, 1 / np.log2(ranks + 1 + 2), 0.0).mean(axis=0)

    return ndcg(ranks_a) - ndcg(ranks_b)


def difference_of_means(ranks_a, ranks_b):
    return solutions.paired_difference(ranks_a, ranks_b).mean()


def values_forgotten(model, n, layers, dim):
    return layers * dim if model == "HydraRec" else layers * n * dim


def state_grows_with_n(model, n, layers, dim):
    return (1 if model == "HydraRec" else 2) * layers * n * dim


def unscaled_kv_step(keys, values, q_t, k_t, v_t):
    keys, values = torch.cat([keys, k_t[:, None]], 1), torch.cat([values, v_t[:, None]], 1)
    weights = (keys @ q_t[:, :, None]).squeeze(-1).softmax(dim=-1)
    return keys, values, (weights[:, None] @ values).squeeze(1)


def attends_before_appending(keys, values, q_t, k_t, v_t):
    """The new token sees only the earlier ones (the first sees nothing: zeros)."""
    out_t = torch.zeros_like(q_t)
    if keys.shape[1]:
        weights = ((keys @ q_t[:, :, None]).squeeze(-1) / q_t.shape[-1] ** 0.5).softmax(-1)
        out_t = (weights[:, None] @ values).squeeze(1)
    return torch.cat([keys, k_t[:, None]], 1), torch.cat([values, v_t[:, None]], 1), out_t


EXERCISES = {
    "product_order_costs": [swapped_orders, lambda n, d: (n * n * d, n * d * d)],
    "linear_attention_right_first": [left_first, unnormalised_right_first],
    "loglog_exponent": [slope_without_logs],
    "hydra_step": [output_before_update],
    "per_head_cosine": [hydra_itself],
    "padding_is_harmless": [right_always_harmless],
    "causal_allowed": [without_the_diagonal, transposed_mask],
    "sees_the_future": [never_leaks, only_the_last_token, includes_token_t],
    "hydra_grad_v": [prefix_instead_of_suffix],
    "leave_one_out": [swapped_targets],
    "expected_rank_random_ties": [pessimistic, optimistic],
    "causal_inputs_and_targets": [first_items_kept, targets_not_shifted],
    "bce_one_negative": [summed_bce, swapped_labels],
    "ndcg_at_k": [no_cutoff, cutoff_off_by_one],
    "last_item_sample": [last_column_masked],
    "mask_context": [context_with_padding],
    "paired_difference": [ranks_as_one_based, difference_of_means],
    "numbers_per_user": [values_forgotten, state_grows_with_n],
    "kv_step": [unscaled_kv_step, attends_before_appending],
}


def checker(name):
    return getattr(exercises, f"check_{name}")


def test_every_solution_has_a_checker_and_wrong_answers():
    assert set(EXERCISES) == {function.__name__ for function in solutions.SOLVED}
    assert set(exercises.__all__) - {"ExerciseError"} == {f"check_{name}" for name in EXERCISES}


@pytest.mark.parametrize("name", EXERCISES)
def test_the_solution_passes(name, capsys):
    checker(name)(getattr(solutions, name))
    assert capsys.readouterr().out.startswith(f"✓ {name}:")


@pytest.mark.parametrize("name", EXERCISES)
def test_a_stub_is_not_attempted_yet(name, capsys):
    for unwritten in (stub, lambda *args: None):
        checker(name)(unwritten)
        out = capsys.readouterr().out
        assert out.startswith(f"○ {name}: not attempted yet") and f'show_solution("{name}")' in out


@pytest.mark.parametrize(
    "name, wrong",
    [(name, wrong) for name, answers in EXERCISES.items() for wrong in answers],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_a_wrong_answer_is_rejected_with_a_hint(name, wrong):
    with pytest.raises(exercises.ExerciseError, match="hint"):
        checker(name)(wrong)


def test_show_solution_prints_the_source(capsys):
    solutions.show_solution("hydra_step")
    assert "def hydra_step(" in capsys.readouterr().out
    solutions.show_solution(solutions.causal_allowed)
    assert "tril" in capsys.readouterr().out
    with pytest.raises(KeyError, match="no solution"):
        solutions.show_solution("nothing")
