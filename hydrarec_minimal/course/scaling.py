"""What the whole model costs as histories grow: training, inference and streaming.

    sweep_model_lengths(["softmax", "hydra"], [256, 1024, 4096])   # one row per (kind, n)
    streaming_costs(hydra_model, sasrec_model, [16, 200, 1600], users=64)  # one row per n
    epoch_seconds_side_by_side({"SASRec": (model, optimizer, batches), ...})

Inputs are random item ids (speed depends neither on which items nor on trained weights).
Times are the best of several batches timed in turns (``benchmark.time_calls``); memory is the
peak of tensor memory during one call (``benchmark.peak_memory``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from hydrarec_minimal.batches import TrainBatch
from hydrarec_minimal.course.benchmark import peak_memory, time_calls
from hydrarec_minimal.fast.compiled import CompiledInference, compile_step
from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.streaming import start_state, step
from hydrarec_minimal.train import LOSSES, sequence_loss, train_one_epoch

#: Catalogue size of the synthetic inputs: ML-100K's, so that scoring costs what it does there.
NUM_ITEMS = 1682


def random_histories(batch: int, n: int, num_items: int = NUM_ITEMS, seed: int = 0) -> Tensor:
    """Long ``(batch, n)`` item ids drawn uniformly from 1..num_items (no padding), seeded."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, num_items + 1, (batch, n), generator=generator)


def build_model(
    attention: str, max_len: int, *, direction: str = "causal", kernel=None, **config
) -> SequentialRecommender:
    """A freshly initialised (seed 0) model of the course's size with this kernel (``kernel``:
    as ``SequentialRecommender``'s)."""
    torch.manual_seed(0)
    model_config = ModelConfig(
        num_items=config.pop("num_items", NUM_ITEMS),
        attention=attention,
        direction=direction,
        max_len=max_len,
        **config,
    )
    return SequentialRecommender(model_config, kernel=kernel)


def sweep_model_lengths(
    attentions: Sequence[str],
    lengths: Sequence[int],
    *,
    batch: int = 8,
    direction: str = "causal",
    repeats: int = 3,
    progress: bool = False,
    **config,
) -> pd.DataFrame:
    """Time and peak memory of one training step and one inference call at each length.

    Training step: full cross-entropy at every position of ``batch`` histories of n items,
    forward and backward, no optimizer update. Inference: ``score_last`` without gradients.

    Args:
        attentions: kernel names, e.g. ``["softmax", "hydra"]``.
        lengths: history lengths n (each model's ``max_len`` is the longest).
        batch: histories per call.
        direction: "causal" (targets = the next items) or "bidirectional" (targets = the
            inputs: a cloze step that masks nothing).
        repeats: timed batches per call (``benchmark.time_calls``); the best is reported.
        progress: print one line per (attention, n) once all are measured.
        **config: other ``ModelConfig`` fields (dim, layers, heads, num_items, ...).

    Returns:
        One row per (attention, n): ``kind, n, batch, train_seconds, infer_seconds,
        train_peak_bytes, infer_peak_bytes``.
    """
    calls = {}  # (attention, n, "train" or "infer") -> the call to time
    for attention in attentions:
        model = build_model(attention, max(lengths), direction=direction, **config)
        num_items = model.config.num_items
        for n in lengths:
            items = random_histories(batch, n + 1, num_items)
            inputs, targets = items[:, :-1], items[:, 1:]
            if direction != "causal":
                targets = inputs

            def train_step(inputs=inputs, targets=targets, model=model):
                model.train()
                loss = sequence_loss(model, inputs, targets)
                loss.backward()
                model.zero_grad(set_to_none=True)
                return loss.detach()

            def infer(inputs=inputs, model=model):
                model.eval()
                with torch.no_grad():
                    return model.score_last(inputs)

            calls[attention, n, "train"], calls[attention, n, "infer"] = train_step, infer
    timings = time_calls(calls, repeats=repeats, min_seconds=0.05)
    rows = []
    for attention in attentions:
        for n in lengths:
            row = {"kind": attention, "n": n, "batch": batch}
            for name in ("train", "infer"):
                row[f"{name}_seconds"] = timings[attention, n, name].best
                row[f"{name}_peak_bytes"] = peak_memory(calls[attention, n, name])
            rows.append(row)
            if progress:
                print(
                    f"{attention:>8} n={n:<5} train {row['train_seconds'] * 1e3:9.1f} ms "
                    f"{row['train_peak_bytes'] / 2**20:8.1f} MiB   infer "
                    f"{row['infer_seconds'] * 1e3:8.1f} ms "
                    f"{row['infer_peak_bytes'] / 2**20:8.1f} MiB",
                    flush=True,
                )
    return pd.DataFrame(rows)


def streaming_costs(
    hydra: SequentialRecommender,
    sasrec: SequentialRecommender,
    lengths: Sequence[int],
    *,
    users: int = 1,
    seed: int = 0,
    repeats: int = 5,
    compiled: bool = False,
    autotune: bool = True,
) -> pd.DataFrame:
    """Seconds per new interaction to refresh users' scores, three ways (five if compiled).

    ``users`` histories of n items get one new item each, in one batched call:
    ``streaming step (hydra)`` (``streaming.step`` on saved states), ``recompute hydra`` and
    ``recompute SASRec`` (``score_last`` over all n + 1 items); with ``compiled`` also
    ``streaming step (hydra, compiled)`` (``fast.compiled.compile_step``) and ``recompute SASRec
    (compiled)`` (``compiled.CompiledInference``), CPU models only.

    Args:
        hydra, sasrec: causal Hydra and softmax models with ``max_len > max(lengths)``; put in
            evaluation mode; the histories are made on ``hydra``'s device.
        lengths: history lengths n.
        users: users per call.
        seed: of the random histories.
        repeats: timed batches per call (``benchmark.time_calls``).
        compiled: add the two compiled ways.
        autotune: passed to both compiled ways.

    Returns:
        One row per n: ``n``, ``users`` and each way's best time divided by ``users``.
    """
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    for model in (hydra, sasrec):
        if model.config.max_len <= max(lengths):
            raise ValueError(
                f"max_len={model.config.max_len} must exceed the longest history "
                f"{max(lengths)}: a recomputed model would truncate it"
            )
        model.eval()
    device = next(hydra.parameters()).device
    if compiled and device.type != "cpu":
        raise ValueError(f"compiled ways run on the CPU only; the models are on {device}")
    if compiled:
        fast_step = compile_step(hydra, autotune=autotune)
        fast_sasrec = CompiledInference(sasrec.score_last, autotune=autotune)
    calls = {}  # (n, way) -> the call to time
    for n in lengths:
        history = random_histories(users, n + 1, hydra.config.num_items, seed).to(device)
        state = start_state(hydra, users)
        for t in range(n):
            state, _ = step(hydra, state, history[:, t])
        new_item = history[:, n]
        calls[n, "streaming step (hydra)"] = lambda s=state, i=new_item: step(hydra, s, i)
        calls[n, "recompute hydra"] = lambda h=history: hydra.score_last(h)
        calls[n, "recompute SASRec"] = lambda h=history: sasrec.score_last(h)
        if compiled:
            calls[n, "streaming step (hydra, compiled)"] = lambda s=state, i=new_item: fast_step(
                s, i
            )
            calls[n, "recompute SASRec (compiled)"] = lambda h=history: fast_sasrec(h)
    with torch.inference_mode():  # all as a server would run them
        timings = time_calls(calls, repeats=repeats, device=device)
    rows = [
        {"n": n, "users": users}
        | {way: timing.best / users for (length, way), timing in timings.items() if length == n}
        for n in lengths
    ]
    return pd.DataFrame(rows)


def epoch_seconds_side_by_side(
    setups: Mapping[str, tuple[SequentialRecommender, torch.optim.Optimizer, Iterable[TrainBatch]]],
    *,
    rounds: int = 3,
    device: str | torch.device = "cpu",
    loss: str = "ce",
) -> dict[str, float]:
    """Best seconds per training epoch of each model, the models alternating epoch by epoch.

    One untimed warm-up round, then ``rounds`` rounds of one epoch (``train.train_one_epoch``)
    per model in turn; the models train as they go.

    Args:
        setups: ``{name: (model, optimizer, batches)}``.
        rounds: timed epochs per model (at least 1).
        device: where the models are.
        loss: one of ``train.LOSSES``.

    Returns:
        ``{name: fastest timed epoch in seconds}``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1; got {rounds}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {LOSSES}")
    device = torch.device(device)
    seconds = {name: [] for name in setups}
    # Not Timer: its timeit runs 2 untimed calls before each timed one, 2 extra epochs per round.
    for _ in range(rounds + 1):
        for name, (model, optimizer, batches) in setups.items():
            start = time.perf_counter()
            train_one_epoch(model, batches, optimizer, loss, device, progress=False)
            seconds[name].append(time.perf_counter() - start)
    return {name: min(times[1:]) for name, times in seconds.items()}
