"""One solution to each exercise of notebooks 01-07, named as the function it asks for.

Look only after trying: ``show_solution("hydra_step")`` prints one of them. Each passes its
checker in ``course.exercises`` (``tests/test_exercises.py`` runs them all).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# ----------------------------------------------------------------------------------------------
# Notebook 01
# ----------------------------------------------------------------------------------------------


def product_order_costs(n: int, d: int) -> tuple[int, int]:
    """Multiply-adds of (Q Kᵀ) V and of Q (Kᵀ V), Q, K, V of n × d."""
    left_first = n * n * d + n * n * d  # Q Kᵀ: n × n dot products of d; then (n × n) V
    right_first = d * d * n + n * d * d  # Kᵀ V: d × d dot products of n; then Q (d × d)
    return left_first, right_first


def linear_attention_right_first(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Bidirectional linear attention, φ = elu + 1, normalised; (..., n, d) -> (..., n, d)."""
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    state = phi_k.transpose(-2, -1) @ v  # (..., d, d)
    normaliser = phi_q @ phi_k.sum(dim=-2, keepdim=True).transpose(-2, -1)  # (..., n, 1)
    return (phi_q @ state) / normaliser


def loglog_exponent(n, seconds) -> float:
    """Exponent p of seconds ≈ c·n^p: the least-squares slope through (log n, log seconds)."""
    slope, _ = np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(seconds, float)), 1)
    return float(slope)


# ----------------------------------------------------------------------------------------------
# Notebook 02
# ----------------------------------------------------------------------------------------------


def hydra_step(state: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token of causal Hydra attention: state (b, d) = Σ_{s<t} k̂_s ⊙ v_s -> (state, out_t)."""
    state = state + F.normalize(k_t, dim=-1) * v_t  # now includes token t itself
    return state, F.normalize(q_t, dim=-1) * state


def per_head_cosine(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Split into d heads of one feature, then the cosine kernel within each head."""
    q_unit = F.normalize(q.unsqueeze(-1), dim=-1).squeeze(-1)  # a 1-vector x becomes sign(x)
    k_unit = F.normalize(k.unsqueeze(-1), dim=-1).squeeze(-1)
    return q_unit * (k_unit * v).sum(dim=-2, keepdim=True)


def padding_is_harmless(side: str, causal: bool) -> bool:
    """Without a mask, do real tokens keep their outputs when 2 padding tokens sit on ``side``?"""
    from hydrarec_minimal.attention import hydra_attention

    generator = torch.Generator().manual_seed(0)
    real = torch.randn(3, 1, 4, 8, generator=generator, dtype=torch.float64)
    junk = 100 * torch.randn(3, 1, 2, 8, generator=generator, dtype=torch.float64)
    alone = hydra_attention(*real, causal=causal)
    if side == "right":
        padded = hydra_attention(*torch.cat([real, junk], dim=2), causal=causal)[:, :4]
    else:
        padded = hydra_attention(*torch.cat([junk, real], dim=2), causal=causal)[:, 2:]
    return bool(torch.allclose(padded, alone))


# ----------------------------------------------------------------------------------------------
# Notebook 03
# ----------------------------------------------------------------------------------------------


def causal_allowed(n: int) -> Tensor:
    """Bool (n, n): allowed[t, s] is True when query t may see key s, i.e. s <= t."""
    return torch.ones(n, n, dtype=torch.bool).tril()


def sees_the_future(attention) -> bool:
    """Does ``attention(q, k, v)`` ((b, n, d) -> (b, n, d)) let an output see a later token?"""
    generator = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(3, 2, 8, 4, generator=generator, dtype=torch.float64)
    before = attention(q, k, v)
    for t in range(q.shape[1] - 1):
        changed = [x.clone() for x in (q, k, v)]
        for x in changed:
            x[:, t + 1 :] = 100 * torch.randn(x[:, t + 1 :].shape, generator=generator).double()
        after = attention(*changed)
        if not torch.equal(after[:, : t + 1], before[:, : t + 1]):
            return True
    return False


def hydra_grad_v(q: Tensor, k: Tensor, v: Tensor, grad_out: Tensor, causal: bool) -> Tensor:
    """∂L/∂v of Hydra attention (no padding), given g = ∂L/∂out; all (b, n, d)."""
    q_hat, k_hat = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    weighted = grad_out * q_hat  # g_t ⊙ q̂_t
    if causal:  # v_s reaches every output t >= s: a suffix sum
        reach = weighted.flip(-2).cumsum(-2).flip(-2)
    else:
        reach = weighted.sum(dim=-2, keepdim=True)
    return reach * k_hat


# ----------------------------------------------------------------------------------------------
# Notebook 04
# ----------------------------------------------------------------------------------------------


def leave_one_out(sequence):
    """(training items, validation target, test target) of one time-ordered history."""
    return sequence[:-2], sequence[-2], sequence[-1]


def expected_rank_random_ties(scores: Tensor, targets: Tensor) -> Tensor:
    """Float (batch,): 0-based rank of each target when ties are broken uniformly at random,
    in expectation: the items scoring higher, plus half of the other items scoring the same."""
    target_scores = scores.gather(1, targets[:, None])
    higher = (scores > target_scores).sum(dim=1)
    tied_others = (scores == target_scores).sum(dim=1) - 1
    return higher + tied_others / 2


# ----------------------------------------------------------------------------------------------
# Notebook 05
# ----------------------------------------------------------------------------------------------


def causal_inputs_and_targets(histories, max_len: int) -> tuple[Tensor, Tensor]:
    """Long (B, T) inputs and next-item targets, 0-padded on the right, from each history's
    last max_len + 1 items."""
    windows = [np.asarray(history[-(max_len + 1) :]) for history in histories]
    width = max(len(window) for window in windows) - 1
    inputs = torch.zeros(len(windows), width, dtype=torch.int64)
    targets = torch.zeros(len(windows), width, dtype=torch.int64)
    for row, window in enumerate(windows):
        inputs[row, : len(window) - 1] = torch.as_tensor(window[:-1])
        targets[row, : len(window) - 1] = torch.as_tensor(window[1:])
    return inputs, targets


def bce_one_negative(
    hidden: Tensor, item_vectors: Tensor, targets: Tensor, negatives: Tensor
) -> Tensor:
    """SASRec's loss: binary cross-entropy of the target (label 1) and one negative (label 0)
    at each of the m positions, mean over the 2m logits."""
    positive = (hidden * item_vectors[targets]).sum(dim=-1)  # (m,)
    negative = (hidden * item_vectors[negatives]).sum(dim=-1)  # (m,)
    return (F.softplus(-positive).sum() + F.softplus(negative).sum()) / (2 * len(targets))


def ndcg_at_k(rank: int, k: int) -> float:
    """NDCG@k of one relevant item at 0-based ``rank``: 1/log2(rank + 2) in the top k, else 0."""
    return 1 / np.log2(rank + 2) if rank < k else 0.0


# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# Notebook 06
# ----------------------------------------------------------------------------------------------


def last_item_sample(items: Tensor, mask_token: int) -> tuple[Tensor, Tensor]:
    """(inputs, targets) of right-padded ``items`` (B, T) with only the last real item hidden."""
    rows = torch.arange(len(items))
    last = (items != 0).sum(dim=1) - 1  # right padding: the last real item's index
    inputs, targets = items.clone(), torch.zeros_like(items)
    inputs[rows, last] = mask_token
    targets[rows, last] = items[rows, last]
    return inputs, targets


def mask_context(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """(b, 1, d): the sum Σ_s k̂_s ⊙ v_s over the real tokens, the same for every token."""
    kv = F.normalize(k, dim=-1) * v * mask.unsqueeze(-1)  # padding adds nothing
    return kv.sum(dim=1, keepdim=True)


def paired_difference(ranks_a: np.ndarray, ranks_b: np.ndarray) -> np.ndarray:
    """(users,): NDCG@10 under A minus under B, each user's value averaged over seeds."""

    def ndcg_at_10(ranks: np.ndarray) -> np.ndarray:  # 0-based ranks, (seeds, users)
        ranks = np.asarray(ranks, dtype=np.float64)
        return np.where(ranks < 10, 1 / np.log2(ranks + 2), 0.0).mean(axis=0)

    return ndcg_at_10(ranks_a) - ndcg_at_10(ranks_b)


# ----------------------------------------------------------------------------------------------
# Notebook 07
# ----------------------------------------------------------------------------------------------


def numbers_per_user(model: str, n: int, layers: int, dim: int) -> int:
    """Numbers kept per user after n items: HydraRec's running sums or SASRec's cache."""
    if model == "HydraRec":
        return layers * dim  # one running sum Σ k̂_s ⊙ v_s per layer
    return 2 * layers * n * dim  # a key and a value per item, per layer


def kv_step(
    keys: Tensor, values: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One token of one-head causal softmax attention with a key/value cache:
    keys, values (b, t, d) -> (b, t + 1, d); q_t, k_t, v_t (b, d) -> out_t (b, d)."""
    keys = torch.cat([keys, k_t[:, None]], dim=1)  # the new token sees itself too
    values = torch.cat([values, v_t[:, None]], dim=1)
    scores = (keys @ q_t[:, :, None]).squeeze(-1) / q_t.shape[-1] ** 0.5  # (b, t + 1)
    out_t = (scores.softmax(dim=-1)[:, None] @ values).squeeze(1)
    return keys, values, out_t


# ----------------------------------------------------------------------------------------------


SOLVED = (
    product_order_costs,
    linear_attention_right_first,
    loglog_exponent,
    hydra_step,
    per_head_cosine,
    padding_is_harmless,
    causal_allowed,
    sees_the_future,
    hydra_grad_v,
    leave_one_out,
    expected_rank_random_ties,
    causal_inputs_and_targets,
    bce_one_negative,
    ndcg_at_k,
    last_item_sample,
    mask_context,
    paired_difference,
    numbers_per_user,
    kv_step,
)


def show_solution(name) -> None:
    """Print the source of the solution called ``name`` (a string, or your function)."""
    name = getattr(name, "__name__", name)
    solutions = {function.__name__: function for function in SOLVED}
    if name not in solutions:
        raise KeyError(f"no solution named {name!r}; there are: {', '.join(solutions)}")
    print(inspect.getsource(solutions[name]))


__all__ = [*(function.__name__ for function in SOLVED), "show_solution"]
