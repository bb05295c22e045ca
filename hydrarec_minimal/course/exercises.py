"""Checkers for the exercises of notebooks 01-07: ``check_<name>(your_function)``.

Each checker calls your function on several inputs and compares what it returns with the right
answer. It prints a line starting "✓" when every case passes, a line starting "○" ("not
attempted yet") while your function is still the stub (it raises ``NotImplementedError`` or
returns None), and raises ``ExerciseError`` (an ``AssertionError``) naming the first failing
case and a hint otherwise. It returns nothing, so a notebook cell shows only that line. One
solution to each is in ``course.solutions`` (``show_solution(name)``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from hydrarec_minimal.attention import hydra_attention, hydra_attention_reference
from hydrarec_minimal.batches import ClozeTrainingSet, pad_right
from hydrarec_minimal.metrics import per_user_metric


class ExerciseError(AssertionError):
    """Your function gave a wrong answer; the message names the case and gives a hint."""


class _NotAttempted(Exception):
    pass


def _call(fn: Callable, *args):
    """``fn(*args)``; ``_NotAttempted`` while ``fn`` is a stub (NotImplementedError or None)."""
    try:
        result = fn(*args)
    except NotImplementedError as stub:
        raise _NotAttempted from stub
    if result is None:
        raise _NotAttempted
    return result


def _checker(name: str, passed: str):
    """Turn ``check(fn)`` (raises ExerciseError when wrong) into a checker with the messages."""

    def decorate(check: Callable[[Callable], None]) -> Callable[[Callable], None]:
        def checker(fn: Callable) -> None:
            try:
                check(fn)
            except _NotAttempted:
                print(
                    f"○ {name}: not attempted yet. Write it in the cell above and rerun this "
                    f'cell; stuck? show_solution("{name}") prints one solution '
                    "(hydrarec_minimal/course/solutions.py)."
                )
                return
            print(f"✓ {name}: {passed}")

        checker.__name__ = check.__name__
        checker.__doc__ = check.__doc__
        return checker

    return decorate


def _close(actual, expected, atol: float = 1e-10) -> bool:
    actual, expected = torch.as_tensor(actual).double(), torch.as_tensor(expected).double()
    return actual.shape == expected.shape and bool(torch.allclose(actual, expected, atol=atol))


def _qkv(shape: tuple[int, ...], seed: int) -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(3))
    return q, k, v


# ----------------------------------------------------------------------------------------------
# Notebook 01
# ----------------------------------------------------------------------------------------------


@_checker("product_order_costs", "both orders counted right for every (n, d) tried")
def check_product_order_costs(fn: Callable[[int, int], tuple[int, int]]) -> None:
    """``fn(n, d) -> (multiply-adds of (Q Kᵀ) V, of Q (Kᵀ V))``, Q, K, V of n × d."""
    for n, d in [(6, 4), (200, 64), (1_000, 16), (3, 50), (1, 1)]:
        got = tuple(int(x) for x in _call(fn, n, d))
        expected = (2 * n * n * d, 2 * n * d * d)
        if got == expected:
            continue
        hint = "each entry of an m × p product of inner size r costs r multiply-adds: m·p·r"
        if got == expected[::-1]:
            hint = "the orders are swapped: (Q Kᵀ) V is the one that builds the n × n matrix"
        elif got == (n * n * d, n * d * d):
            hint = "each order is two matrix products: count both"
        raise ExerciseError(f"n={n}, d={d}: expected {expected}, got {got}; hint: {hint}")


class _ShapeRecorder(TorchFunctionMode):
    """Records the shape of every tensor that a torch function returns inside the block."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for out in result if isinstance(result, tuple | list) else (result,):
            if isinstance(out, Tensor):
                self.shapes.append(tuple(out.shape))
        return result


def _linear_attention_quadratic(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    weights = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-2, -1)  # (..., n, n)
    return (weights / weights.sum(dim=-1, keepdim=True)) @ v


@_checker("linear_attention_right_first", "same as (φ(Q) φ(K)ᵀ) V, normalised, no n × n tensor")
def check_linear_attention_right_first(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> None:
    """``fn(q, k, v)``: bidirectional linear attention (φ = elu + 1, normalised), (..., n, d),
    computed right to left: no tensor of shape (..., n, n) may appear."""
    for seed, shape in enumerate([(5, 3), (2, 7, 4), (2, 3, 9, 2)]):
        q, k, v = _qkv(shape, seed)
        n = shape[-2]
        with _ShapeRecorder() as recorder:
            out = _call(fn, q, k, v)
        square = [s for s in recorder.shapes if len(s) >= 2 and s[-2:] == (n, n)]
        if square:
            raise ExerciseError(
                f"q, k, v of shape {shape}: your code built a tensor of shape {square[0]}, "
                "n × n; hint: compute the d × d state φ(K)ᵀ V first, then φ(Q) times it"
            )
        if not _close(out, _linear_attention_quadratic(q, k, v)):
            raise ExerciseError(
                f"q, k, v of shape {shape}: the result differs from (φ(Q) φ(K)ᵀ) V with each "
                "row of weights divided by its sum; hint: the normaliser is φ(q_t) · Σ_s φ(k_s)"
            )


@_checker("loglog_exponent", "recovers p from c·n^p for every p tried")
def check_loglog_exponent(fn: Callable) -> None:
    """``fn(n, seconds) -> p`` with seconds ≈ c·n^p: the slope of log(seconds) against log(n)."""
    n = np.array([256, 512, 1_024, 2_048, 4_096])
    for p, c in [(1.0, 3e-6), (2.0, 1e-9), (0.5, 2e-4), (1.5, 1.0)]:
        got = float(_call(fn, n, c * n**p))
        if abs(got - p) > 1e-6:
            raise ExerciseError(
                f"seconds = {c:g}·n^{p} at n = {n.tolist()}: expected {p}, got {got:.4g}; "
                "hint: fit a straight line to (log n, log seconds), e.g. np.polyfit(x, y, 1)"
            )


# ----------------------------------------------------------------------------------------------
# Notebook 02
# ----------------------------------------------------------------------------------------------


def _run_steps(step: Callable, state: tuple, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Feed q, k, v ``(b, n, d)`` to ``step(*state, q_t, k_t, v_t) -> (*state, out_t)`` one
    token at a time from ``state``; the outputs stacked, ``(b, n, d)``."""
    outputs = []
    for t in range(q.shape[1]):
        *state, out_t = _call(step, *state, q[:, t], k[:, t], v[:, t])
        outputs.append(out_t)
    return torch.stack(outputs, dim=1)


@_checker("hydra_step", "token by token equals hydra_attention(causal=True)")
def check_hydra_step(fn: Callable) -> None:
    """``fn(state, q_t, k_t, v_t) -> (state, out_t)``, all (b, d): one token of causal Hydra
    attention, ``state`` starting at zeros; run over whole sequences."""
    for seed, shape in enumerate([(1, 1, 1), (2, 6, 8), (3, 10, 4)]):
        q, k, v = _qkv(shape, seed)
        got = _run_steps(fn, (torch.zeros_like(q[:, 0]),), q, k, v)
        expected = hydra_attention(q, k, v, causal=True)
        if _close(got, expected):
            continue
        context = (F.normalize(k, dim=-1) * v).cumsum(dim=1)
        previous = F.normalize(q, dim=-1) * (context - F.normalize(k, dim=-1) * v)
        hint = "out_t = q̂_t ⊙ state, with state = Σ_{s ≤ t} k̂_s ⊙ v_s (normalise q and k)"
        if _close(got, previous):
            hint = "out_t must include token t itself: add k̂_t ⊙ v_t to the state first"
        raise ExerciseError(f"q, k, v of shape {shape} (b, n, d): wrong outputs; hint: {hint}")


@_checker(
    "per_head_cosine",
    "equals sign(q) ⊙ Σ_s sign(k_s) ⊙ v_s: the magnitudes of q and k are lost, not Hydra",
)
def check_per_head_cosine(fn: Callable) -> None:
    """``fn(q, k, v)``, (b, n, d): d heads of one feature first, the cosine kernel in each."""
    for seed, shape in enumerate([(1, 4, 2), (2, 6, 8)]):
        q, k, v = _qkv(shape, seed)
        got = _call(fn, q, k, v)
        if _close(got, torch.sign(q) * (torch.sign(k) * v).sum(dim=1, keepdim=True)):
            continue
        hint = "split into d heads of one feature, normalise within each head, then attend"
        if _close(got, hydra_attention(q, k, v)):
            hint = "that is Hydra attention: it normalises over all d features BEFORE splitting"
        raise ExerciseError(f"q, k, v of shape {shape}: unexpected result; hint: {hint}")


@_checker("padding_is_harmless", "right for all four combinations")
def check_padding_is_harmless(fn: Callable[[str, bool], bool]) -> None:
    """``fn(side, causal) -> bool``, side "left" or "right": without a mask, do real tokens keep
    their outputs when padding sits on that side?"""
    for side in ("right", "left"):
        for causal in (True, False):
            got = bool(_call(fn, side, causal))
            expected = side == "right" and causal
            if got != expected:
                raise ExerciseError(
                    f"side={side!r}, causal={causal}: expected {expected}, got {got}; hint: "
                    "which tokens does each real token add up, causal and bidirectional?"
                )


# ----------------------------------------------------------------------------------------------
# Notebook 03
# ----------------------------------------------------------------------------------------------


@_checker("causal_allowed", "allowed[t, s] = s ≤ t for every n tried")
def check_causal_allowed(fn: Callable[[int], Tensor]) -> None:
    """``fn(n)``: bool (n, n), allowed[t, s] True when query t may see key s."""
    for n in range(1, 7):
        got = torch.as_tensor(_call(fn, n)).bool()
        expected = torch.ones(n, n, dtype=torch.bool).tril()
        if got.shape == expected.shape and torch.equal(got, expected):
            continue
        hint = "rows are queries t, columns keys s; a token sees itself and the past"
        if got.shape == expected.shape and torch.equal(got, expected.tril(-1)):
            hint = "off by one: token t must see itself (s = t), torch.tril() not tril(-1)"
        elif got.shape == expected.shape and torch.equal(got, expected.T):
            hint = "transposed: row t (the query) may see columns s <= t"
        raise ExerciseError(f"n={n}: wrong mask\n{got.int()}\nhint: {hint}")


def _off_by_one(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """A leaky causal Hydra: token t also sees token t + 1."""
    kv = F.normalize(k, dim=-1) * v
    context = kv.cumsum(dim=1)
    context = torch.cat([context[:, 1:], context[:, -1:]], dim=1)  # Σ_{s <= t+1}
    return F.normalize(q, dim=-1) * context


def _sequence_norm(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """A leaky causal Hydra: keys normalised over the sequence."""
    return F.normalize(q, dim=-1) * (F.normalize(k, dim=1) * v).cumsum(dim=1)


#: (description, attention (q, k, v) -> out, does it see the future?)
LEAKAGE_CASES = [
    ("causal hydra_attention", lambda q, k, v: hydra_attention(q, k, v, causal=True), False),
    (
        "causal hydra_attention_reference",
        lambda q, k, v: hydra_attention_reference(q, k, v, causal=True),
        False,
    ),
    ("bidirectional hydra_attention", hydra_attention, True),
    ("causal Hydra where token t also sees t + 1", _off_by_one, True),
    ("causal Hydra with keys normalised over the sequence", _sequence_norm, True),
]


@_checker("sees_the_future", "tells the causal kernels from the leaky ones")
def check_sees_the_future(fn: Callable[[Callable], bool]) -> None:
    """``fn(attention) -> bool``: does ``attention(q, k, v)`` ((b, n, d)) see later tokens?"""
    for description, attention, leaks in LEAKAGE_CASES:
        got = bool(_call(fn, attention))
        if got != leaks:
            verdict = "sees the future" if leaks else "is causal"
            raise ExerciseError(
                f"{description} {verdict}, but your test says {got}; hint: for every t, change "
                "all tokens after t and compare the outputs at every position up to t"
            )


@_checker("hydra_grad_v", "equals autograd's ∂L/∂v, causal and bidirectional")
def check_hydra_grad_v(fn: Callable) -> None:
    """``fn(q, k, v, grad_out, causal) -> ∂L/∂v``, all (b, n, d), no padding."""
    for seed, shape in enumerate([(1, 1, 1), (2, 5, 3), (3, 7, 4)]):
        for causal in (True, False):
            q, k, v = _qkv(shape, seed)
            grad_out = torch.randn(shape, generator=torch.Generator().manual_seed(99)).double()
            v_leaf = v.clone().requires_grad_(True)
            out = hydra_attention(q, k, v_leaf, causal=causal)
            (expected,) = torch.autograd.grad(out, v_leaf, grad_out)
            got = _call(fn, q, k, v, grad_out, causal)
            if _close(got, expected):
                continue
            hint = "∂L/∂v_s = k̂_s ⊙ Σ_t q̂_t ⊙ g_t over the outputs t that v_s reaches"
            prefix = F.normalize(k, dim=-1) * (grad_out * F.normalize(q, dim=-1)).cumsum(1)
            if causal and _close(got, prefix):
                hint = "v_s reaches the outputs t >= s: a suffix sum (from the end), not a prefix"
            raise ExerciseError(f"shape {shape}, causal={causal}: wrong gradient; hint: {hint}")


# ----------------------------------------------------------------------------------------------
# Notebook 04
# ----------------------------------------------------------------------------------------------


@_checker("leave_one_out", "training items, validation and test targets right every time")
def check_leave_one_out(fn: Callable) -> None:
    """``fn(sequence) -> (training items, validation target, test target)``."""
    for sequence in ([7, 3, 9], list(range(10, 20)), [5, 5, 2, 8, 1]):
        train, valid, test = _call(fn, np.array(sequence))
        expected = (sequence[:-2], sequence[-2], sequence[-1])
        got = (list(np.asarray(train).tolist()), int(valid), int(test))
        if got == expected:
            continue
        hint = "the last item is the test target, the one before it the validation target"
        if got == (sequence[:-2], sequence[-1], sequence[-2]):
            hint = "validation and test are swapped: the LAST item is the test target"
        raise ExerciseError(f"sequence {sequence}: expected {expected}, got {got}; hint: {hint}")


@_checker("expected_rank_random_ties", "half of the tied items counted, as random ties would")
def check_expected_rank_random_ties(fn: Callable) -> None:
    """``fn(scores (batch, c), targets (batch,)) -> float (batch,)``: the 0-based rank of each
    target in expectation over uniformly random tie-breaking."""
    generator = torch.Generator().manual_seed(0)
    cases = [
        ("a constant scorer", torch.zeros(2, 11), torch.tensor([3, 7]), [5.0, 5.0]),
        ("scores without ties", torch.arange(8.0).flip(0)[None], torch.tensor([2]), [2.0]),
        ("some ties", torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0, 3.0]]), torch.tensor([1]), [2.0]),
    ]
    distinct = torch.randn(3, 50, generator=generator)
    targets = torch.tensor([0, 10, 49])
    ranks = (distinct > distinct.gather(1, targets[:, None])).sum(1).double()
    cases.append(("random scores", distinct, targets, ranks.tolist()))
    for description, scores, targets, expected in cases:
        got = torch.as_tensor(_call(fn, scores, targets)).double()
        if _close(got, torch.tensor(expected)):
            continue
        hint = "count the items scoring higher, plus half of the OTHER items scoring the same"
        tied = (scores == scores.gather(1, targets[:, None])).sum(1) - 1
        if _close(got, torch.tensor(expected) + tied / 2):
            hint = "pessimistic: every tied item ranked above the target; random ties: half"
        elif _close(got, torch.tensor(expected) - tied / 2):
            hint = "optimistic: every tied item ranked below the target; random ties: half"
        raise ExerciseError(f"{description}: expected {expected}, got {got.tolist()}; hint: {hint}")


# ----------------------------------------------------------------------------------------------
# Notebook 05
# ----------------------------------------------------------------------------------------------


@_checker("causal_inputs_and_targets", "inputs, next-item targets and padding right every time")
def check_causal_inputs_and_targets(fn: Callable) -> None:
    """``fn(histories, max_len) -> (inputs, targets)``, long (B, T), 0-padded on the right: each
    history's last ``max_len + 1`` items, inputs without the last, targets without the first."""
    cases = [
        ([[5, 6, 7]], 4),
        ([[1, 2, 3, 4, 5, 6], [9, 8]], 3),
        ([[3, 1], [4, 1, 5, 9, 2, 6], [5, 3, 5]], 10),
        ([list(range(10, 30)), [7, 7, 7]], 5),
    ]
    for histories, max_len in cases:
        windows = [np.array(h[-(max_len + 1) :]) for h in histories]
        expected = (pad_right([w[:-1] for w in windows]), pad_right([w[1:] for w in windows]))
        got = _call(fn, [np.array(h) for h in histories], max_len)
        got = tuple(torch.as_tensor(x).long() for x in got)
        if all(_close(g, e) for g, e in zip(got, expected, strict=True)):
            continue
        hint = "the target at position t is the item that comes right after input t"
        firsts = [np.array(h[: max_len + 1]) for h in histories]
        if _close(got[0], pad_right([w[:-1] for w in firsts])):
            hint = "keep the MOST RECENT max_len + 1 items (the end of each history)"
        elif _close(got[1], expected[0]):
            hint = "the targets are the inputs shifted by one: window[1:], not window[:-1]"
        elif got[0].shape != expected[0].shape:
            hint = "pad on the right with 0 to the longest window minus one"
        raise ExerciseError(
            f"histories {histories}, max_len={max_len}: expected inputs {expected[0].tolist()} "
            f"and targets {expected[1].tolist()}, got {[g.tolist() for g in got]}; hint: {hint}"
        )


def _bce_reference(hidden: Tensor, items: Tensor, targets: Tensor, negatives: Tensor) -> Tensor:
    positive = (hidden * items[targets]).sum(-1)
    negative = (hidden * items[negatives]).sum(-1)
    logits = torch.cat([positive, negative])
    labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)])
    return F.binary_cross_entropy_with_logits(logits, labels)


@_checker("bce_one_negative", "equals SASRec's binary loss with one negative per position")
def check_bce_one_negative(fn: Callable) -> None:
    """``fn(hidden (m, d), item_vectors (V, d), targets (m,), negatives (m,)) -> scalar``: the
    mean binary cross-entropy over the m positive and m negative logits (dot products)."""
    for seed, (m, d, items) in enumerate([(1, 2, 3), (5, 4, 9), (40, 8, 30)]):
        generator = torch.Generator().manual_seed(seed)
        hidden = torch.randn(m, d, generator=generator, dtype=torch.float64)
        vectors = torch.randn(items, d, generator=generator, dtype=torch.float64)
        targets = torch.randint(1, items, (m,), generator=generator)
        negatives = torch.randint(1, items, (m,), generator=generator)
        expected = _bce_reference(hidden, vectors, targets, negatives)
        got = torch.as_tensor(_call(fn, hidden, vectors, targets, negatives))
        if _close(got, expected):
            continue
        hint = "logit = hidden · item vector; BCE with label 1 for targets, 0 for negatives"
        if _close(got, 2 * m * expected):
            hint = "take the mean over the 2m logits, not the sum"
        elif _close(got, _bce_reference(hidden, vectors, negatives, targets)):
            hint = "the labels are swapped: the target gets 1, the negative 0"
        raise ExerciseError(
            f"m={m}, d={d}, {items} items: expected {expected.item():.6f}, got {got.item():.6f}; "
            f"hint: {hint}"
        )


@_checker("ndcg_at_k", "equals 1/log2(rank + 2) inside the top k and 0 outside, for every k")
def check_ndcg_at_k(fn: Callable[[int, int], float]) -> None:
    """``fn(rank, k) -> float``: NDCG@k of one 0-based rank (one relevant item)."""
    for k in (1, 5, 10, 20):
        for rank in range(25):
            expected = float(per_user_metric(np.array([rank]), f"NDCG@{k}")[0])
            got = float(_call(fn, rank, k))
            if abs(got - expected) < 1e-12:
                continue
            hint = "one relevant item: the gain is 1/log2(position + 1), position 1-based"
            if rank == k and got > 0:
                hint = "rank is 0-based: rank k is the (k+1)-th item, outside the top k"
            elif rank >= k:
                hint = "outside the top k the gain is 0"
            raise ExerciseError(
                f"rank={rank}, k={k}: expected {expected:.6f}, got {got:.6f}; hint: {hint}"
            )


# ----------------------------------------------------------------------------------------------
# Notebook 06
# ----------------------------------------------------------------------------------------------


@_checker("last_item_sample", "equals ClozeTrainingSet(last_item_prob=1.0) on every batch tried")
def check_last_item_sample(fn: Callable) -> None:
    """``fn(items, mask_token) -> (inputs, targets)``, all (B, T) int64: each right-padded row
    (0 = padding) with only its last real item hidden behind ``mask_token``; targets hold that
    item there and 0 elsewhere."""
    batches = [
        [[4, 9, 2, 7]],
        [[1, 2, 3], [5, 6], [8]],
        [[3, 3, 1, 2, 9, 4], [7, 5, 2, 6]],
    ]
    for rows in batches:
        examples = [np.array(row) for row in rows]
        cloze = ClozeTrainingSet(examples, max_len=10, num_items=9, last_item_prob=1.0)
        expected = cloze.collate(examples)
        items = pad_right(examples)
        inputs, targets = (torch.as_tensor(x) for x in _call(fn, items, cloze.mask_token))
        if torch.equal(inputs, expected.inputs) and torch.equal(targets, expected.targets):
            continue
        hint = "a row's last real item sits at index length - 1, length = (items != 0).sum(1)"
        last_column = items.clone()
        last_column[:, -1] = cloze.mask_token
        if torch.equal(targets, expected.inputs) and torch.equal(inputs, expected.targets):
            hint = "inputs and targets are swapped: the input shows the mask token"
        elif torch.equal(inputs, last_column):
            hint = "padding is on the right: the last column is padding in the shorter rows"
        raise ExerciseError(
            f"items {items.tolist()}: expected inputs {expected.inputs.tolist()} and targets "
            f"{expected.targets.tolist()}, got {inputs.tolist()} and {targets.tolist()}; "
            f"hint: {hint}"
        )


@_checker("mask_context", "the one vector bidirectional Hydra gives every real token")
def check_mask_context(fn: Callable) -> None:
    """``fn(q, k, v, mask) -> (b, 1, d)``: Σ over the real tokens s of k̂_s ⊙ v_s, so that
    bidirectional ``hydra_attention(q, k, v, mask=mask)`` = q̂_t ⊙ that at every real t."""
    for seed, lengths in enumerate([[5], [6, 3], [4, 1, 7]]):
        n = max(lengths)
        q, k, v = _qkv((len(lengths), n, 4), seed)
        mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
        got = torch.as_tensor(_call(fn, q, k, v, mask)).double()
        out = hydra_attention(q, k, v, causal=False, mask=mask)
        expected = (F.normalize(k, dim=-1) * v * mask[..., None]).sum(dim=1, keepdim=True)
        if _close(got, expected) and _close(F.normalize(q, dim=-1) * got * mask[..., None], out):
            continue
        hint = "normalise each key over its d features, multiply by v, sum over the tokens"
        if _close(got, (F.normalize(k, dim=-1) * v).sum(dim=1, keepdim=True)):
            hint = "padding (mask False) must add nothing to the sum"
        elif got.shape != expected.shape:
            hint = f"one vector per sequence, shape {tuple(expected.shape)} (keepdim=True)"
        raise ExerciseError(f"sequence lengths {lengths}: wrong context; hint: {hint}")


@_checker("paired_difference", "per-user NDCG@10 differences, A minus B, as paired_bootstrap's")
def check_paired_difference(fn: Callable) -> None:
    """``fn(ranks_a, ranks_b) -> (users,)``: each user's NDCG@10 under A minus under B, each
    averaged over its seeds; ranks are 0-based, ``(seeds, users)``, seed counts may differ."""
    generator = np.random.default_rng(0)
    cases = [
        (np.array([[0, 9, 10, 3]]), np.array([[1, 1, 0, 30]])),
        (generator.integers(0, 25, (3, 50)), generator.integers(0, 25, (2, 50))),
    ]
    for ranks_a, ranks_b in cases:
        got = np.asarray(_call(fn, ranks_a, ranks_b), dtype=np.float64)
        expected = per_user_metric(ranks_a).mean(0) - per_user_metric(ranks_b).mean(0)
        if got.shape == expected.shape and np.allclose(got, expected):
            continue
        hint = "NDCG@10 of a 0-based rank r: 1 / log2(r + 2) if r < 10, else 0"
        shifted = per_user_metric(ranks_a + 1).mean(0) - per_user_metric(ranks_b + 1).mean(0)
        if got.shape != expected.shape:
            hint = f"one difference per user: shape {expected.shape}; average over seeds first"
        elif np.allclose(got, shifted):
            hint = "ranks are 0-based: the top item (r = 0) has gain 1 / log2(2) = 1"
        raise ExerciseError(
            f"ranks of shapes {ranks_a.shape} and {ranks_b.shape}: wrong differences; hint: {hint}"
        )


# ----------------------------------------------------------------------------------------------
# Notebook 07
# ----------------------------------------------------------------------------------------------


@_checker("numbers_per_user", "right for both models at every (n, layers, dim) tried")
def check_numbers_per_user(fn: Callable[[str, int, int, int], int]) -> None:
    """``fn(model, n, layers, dim)``, model "HydraRec" or "SASRec": how many numbers the
    model keeps per user to take the next item after n items in one step (HydraRec: its
    running sums; SASRec: its key/value cache)."""
    for n, layers, dim in [(200, 2, 64), (4_096, 2, 64), (1, 1, 1), (50, 3, 16)]:
        for model, expected in [("HydraRec", layers * dim), ("SASRec", 2 * layers * n * dim)]:
            got = int(_call(fn, model, n, layers, dim))
            if got == expected:
                continue
            hint = "HydraRec keeps one running sum of dim numbers per layer, whatever n"
            if model == "SASRec":
                hint = "SASRec keeps a key AND a value of dim numbers per item and per layer"
                if got == layers * n * dim:
                    hint = "count the values as well as the keys: two vectors per item"
            raise ExerciseError(
                f"{model}, n={n}, layers={layers}, dim={dim}: expected {expected}, got {got}; "
                f"hint: {hint}"
            )


@_checker("kv_step", "token by token equals causal softmax attention (is_causal=True)")
def check_kv_step(fn: Callable) -> None:
    """``fn(keys, values, q_t, k_t, v_t) -> (keys, values, out_t)``: one token of one-head
    causal softmax attention with a key/value cache; keys, values ``(b, t, d)`` of the tokens
    before, q_t, k_t, v_t ``(b, d)``; run over whole sequences from empty caches."""
    for seed, shape in enumerate([(1, 1, 1), (2, 6, 8), (3, 10, 4)]):
        q, k, v = _qkv(shape, seed)
        got = _run_steps(fn, (q[:, :0], q[:, :0]), q, k, v)  # empty caches (b, 0, d)
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if _close(got, expected):
            continue
        hint = "out_t = softmax(keys · q_t / √d) · values over every cached token, t included"
        unscaled = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)
        if _close(got, unscaled):
            hint = "divide the scores q_t · k_s by √d, as scaled dot-product attention does"
        raise ExerciseError(f"q, k, v of shape {shape} (b, n, d): wrong outputs; hint: {hint}")


__all__ = [
    "ExerciseError",
    "check_bce_one_negative",
    "check_causal_allowed",
    "check_causal_inputs_and_targets",
    "check_expected_rank_random_ties",
    "check_hydra_grad_v",
    "check_hydra_step",
    "check_kv_step",
    "check_last_item_sample",
    "check_leave_one_out",
    "check_linear_attention_right_first",
    "check_loglog_exponent",
    "check_mask_context",
    "check_ndcg_at_k",
    "check_numbers_per_user",
    "check_padding_is_harmless",
    "check_paired_difference",
    "check_per_head_cosine",
    "check_product_order_costs",
    "check_sees_the_future",
]
