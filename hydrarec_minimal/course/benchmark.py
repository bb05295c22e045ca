"""Measuring attention: time, peak memory, sweeps over sequence length, and log-log slopes.

Notebooks 01 and 03 (and later notebook 07 and the benchmark command) measure the same way, so
the measuring lives here. Four ideas, one function each:

- ``time_call(fn)``: seconds per call of a function that takes no arguments. It warms up, picks
  how many calls to run back to back so that one repeat lasts long enough for the clock to be
  trusted, and keeps the **best** (and the median) of several repeats. The best is the usual
  choice for micro-benchmarks (Python's ``timeit`` makes it too): noise from other programs
  only ever makes a call slower, never faster. ``time_calls({key: fn})`` times several
  functions with their repeats interleaved, so that a burst of noise hits all of them alike.
- ``peak_memory(fn)``: the most bytes of tensor memory that one call held at any moment, above
  what was allocated before the call (the inputs you built beforehand do not count; the output,
  alive when the call ends, does).
- ``sweep_lengths(kinds, lengths)``: both of the above for each attention kernel at each
  sequence length n, as a pandas DataFrame (one row per kernel and n).
- ``loglog_slope(n, y)`` / ``fit_slopes(table)``: if y grows like n^p, then
  log y = p·log n + c, so the slope of a straight line through (log n, log y) estimates p.
  Fitted over the largest n only, where fixed per-call overheads no longer dominate.
  ``crossover_length(table, fast, slow)``: from which n one kernel stays ahead of another.

Plus small helpers every notebook uses: ``describe_machine()`` (print it next to every
measurement), ``max_abs_difference(a, b)`` and ``check_close(label, actual, expected)``
(assert, then print one line that is the same on every machine, so nbval can compare it).

A warning about shared machines. PyTorch runs one thread per core, and by default a thread
that has finished its share of a parallel operation *spins* (busy-waits) for the others. When
another program keeps a core busy, the spinning thread can occupy the very core its partner
needs, and every parallel operation then costs milliseconds: curves jump and stay flat, and
no number of repeats helps. Measure on a quiet machine, or start Python with
``OMP_WAIT_POLICY=PASSIVE`` (``describe_machine`` reports it), or use one thread.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from hydrarec_minimal.attention import ATTENTION_KERNELS, AttentionKernel

#: Exponent p in "cost grows like n^p" (at fixed d and heads), from the derivation in
#: notebook 01, for the kernels as ``sweep_lengths`` calls them (no padding mask).
#:
#: - Time: softmax compares every query with every key (n²); linear and LinRec keep a d x d
#:   state per head, Hydra d numbers (both n).
#: - Peak memory: the textbook softmax (``softmax_explicit``, as notebook 01 writes it) holds the
#:   n x n score matrix (n²). The package's ``softmax`` calls PyTorch's
#:   ``scaled_dot_product_attention``, which for 4-d inputs without a mask picks a fused
#:   ("flash") kernel that works through the scores block by block and never holds them all:
#:   n, though the time stays n². The causal linear kernels work through the sequence in
#:   chunks (a chunk x chunk matrix inside each, one d x d state per chunk): linear in n.
#:   Hydra holds n·d.
EXPECTED_SLOPES: dict[str, dict[str, float]] = {
    "seconds": {
        "softmax": 2.0,
        "softmax_explicit": 2.0,
        "linear": 1.0,
        "linrec": 1.0,
        "hydra": 1.0,
    },
    "peak_bytes": {
        "softmax": 1.0,
        "softmax_explicit": 2.0,
        "linear": 1.0,
        "linrec": 1.0,
        "hydra": 1.0,
    },
}


# ----------------------------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------------------------


#: Environment variables that change how CPU threads behave, hence timings: reported when set.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")

#: glibc ``malloc`` settings that keep freed memory inside the process (see ``steady_allocator``):
#: blocks up to 256 MiB come from the heap, which is trimmed only above 1 GiB of free memory.
STEADY_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(2**28),
    "MALLOC_TRIM_THRESHOLD_": str(2**30),
    "MALLOC_TOP_PAD_": str(2**28),
}


def steady_allocator() -> None:
    """Restart this Python program with ``STEADY_MALLOC`` set, unless it already is (Linux).

    Why: PyTorch gets CPU tensor memory from the C library's ``malloc``. By default glibc
    returns big freed blocks to the operating system (above a threshold that it adapts as the
    program runs), so the next call of the same kernel receives fresh pages and pays a page
    fault for every 4 KiB it touches. For a kernel that reads and writes a few MiB this can
    double or triple its time, and how often it happens changes from run to run: on this
    course's 2-core machine the same Hydra forward pass measured anything from 0.6 to 3 ms.
    The benchmark scripts call this first, so that they measure the kernels, not the page
    faults; ``describe_machine`` then says "steady malloc". Training and notebooks run with
    the default allocator.

    How: the settings are only read when a program starts, so the program is started again
    (``os.execve``) with them in its environment. Elsewhere than Linux nothing happens.
    """
    if platform.system() != "Linux" or steady_malloc_is_set():
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | STEADY_MALLOC)


def steady_malloc_is_set() -> bool:
    """Does this process run with every ``STEADY_MALLOC`` setting?"""
    return all(os.environ.get(name) == value for name, value in STEADY_MALLOC.items())


def describe_machine(device: str | torch.device = "cpu") -> str:
    """One line naming what the measurements ran on: print it next to every number you report.

    Example: ``"CPU: x86_64, 2 logical cores, 2 torch threads; torch 2.13.0+cpu; Python
    3.11.7; Linux"``, followed by any of ``THREAD_VARIABLES`` that are set and "steady malloc"
    under ``steady_allocator``. On CUDA the GPU's name replaces the CPU details.
    """
    device = torch.device(device)
    software = f"torch {torch.__version__}; Python {platform.python_version()}; {platform.system()}"
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}; {software}"
    cores = os.cpu_count() or 0
    threads = torch.get_num_threads()
    line = f"CPU: {platform.machine()}, {cores} logical cores, {threads} torch threads; {software}"
    settings = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    if steady_malloc_is_set():
        settings.append("steady malloc")
    return "; ".join([line, *settings])


def _synchronize(device: torch.device) -> None:
    """Wait for queued GPU work: CUDA calls return before the GPU has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------
# Time
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Seconds per call, from ``repeats`` repeats of ``number`` back-to-back calls each.

    Attributes:
        best: fastest repeat, divided by ``number`` (what sweeps report).
        median: median repeat, divided by ``number`` (how much noise there was: compare).
        number: calls per repeat.
        repeats: how many repeats were timed (after the warm-up).
    """

    best: float
    median: float
    number: int
    repeats: int


def time_call(
    fn: Callable[[], object],
    *,
    repeats: int = 5,
    min_seconds: float = 0.02,
    max_number: int = 10_000,
    device: str | torch.device = "cpu",
) -> Timing:
    """Time ``fn()`` robustly with ``time.perf_counter``.

    1. Warm-up: call ``fn`` once (first calls pay for memory allocation, lazy initialisation
       and caches), then keep doubling the number of back-to-back calls until one batch of
       calls lasts at least ``min_seconds`` (or ``max_number`` calls): a microsecond-long call
       timed alone would mostly measure the clock.
    2. Time ``repeats`` batches of that many calls; report the best and the median, per call.

    To compare several functions, time them together with ``time_calls``.

    Args:
        fn: the work, with no arguments (wrap it: ``lambda: kernel(q, k, v)``).
        repeats: number of timed batches (at least 1).
        min_seconds: shortest duration of one timed batch.
        max_number: most calls in one batch.
        device: ``"cuda"`` waits for the GPU before reading the clock; CPU needs nothing.

    Returns:
        A ``Timing`` (seconds per call).
    """
    timings = time_calls(
        {"fn": fn}, repeats=repeats, min_seconds=min_seconds, max_number=max_number, device=device
    )
    return timings["fn"]


def time_calls(
    calls: Mapping[Hashable, Callable[[], object]],
    *,
    repeats: int = 5,
    min_seconds: float = 0.02,
    max_number: int = 10_000,
    device: str | torch.device = "cpu",
) -> dict[Hashable, Timing]:
    """Time several functions as ``time_call`` does, their repeats interleaved.

    Each function is warmed up and given its number of calls per batch first; then come
    ``repeats`` rounds, and each round times one batch of every function in turn.

    Why interleave: on a shared machine the noise comes in bursts that last seconds. Timed one
    function after another, a burst can spoil every repeat of one function and none of the
    next, and the ratio of their times (the number a benchmark is after) is then wrong.
    Interleaved, a burst spoils one round of every function, and the best of the rounds still
    sees the quiet machine for all of them.

    Args:
        calls: ``{key: function with no arguments}``; every function stays alive (with what it
            holds, e.g. its inputs) until all are timed.
        repeats, min_seconds, max_number, device: as for ``time_call``.

    Returns:
        ``{key: Timing}`` (seconds per call), keys in the order of ``calls``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    device = torch.device(device)

    def run_batch(fn: Callable[[], object], number: int) -> float:
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(number):
            fn()
        _synchronize(device)
        return time.perf_counter() - start

    numbers = {}
    for key, fn in calls.items():
        run_batch(fn, 1)  # warm-up
        number = 1
        while number < max_number and run_batch(fn, number) < min_seconds:
            number = min(2 * number, max_number)
        numbers[key] = number
    per_call: dict[Hashable, list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, fn in calls.items():
            per_call[key].append(run_batch(fn, numbers[key]) / numbers[key])
    return {
        key: Timing(min(seconds), statistics.median(seconds), numbers[key], repeats)
        for key, seconds in per_call.items()
    }


# ----------------------------------------------------------------------------------------------
# Peak memory
# ----------------------------------------------------------------------------------------------


def quiet_profiler() -> None:
    """Silence the profiler's "profiler_start/stop" lines (read once, when it first starts)."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")


def _peak_cpu_bytes(fn: Callable[[], object]) -> int:
    """CPU peak memory from the PyTorch profiler's record of every allocation and free."""
    quiet_profiler()
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as profiler:
        result = fn()
        del result  # still counted: it was alive when the call ended
    try:
        events = profiler.profiler.kineto_results.events()
    except AttributeError as error:  # a future torch may move these internals
        raise RuntimeError(
            f"cannot read memory events from the profiler of torch {torch.__version__}"
        ) from error
    # "[memory]" events carry the bytes allocated (positive) or freed (negative).
    deltas = sorted(
        (event.start_ns(), index, event.nbytes())
        for index, event in enumerate(events)
        if event.name() == "[memory]" and event.device_type() == torch.autograd.DeviceType.CPU
    )
    live = peak = 0
    for _, _, delta in deltas:
        live += delta
        peak = max(peak, live)
    return peak


def peak_memory(fn: Callable[[], object], *, device: str | torch.device = "cpu") -> int:
    """Most bytes of tensor memory alive at any moment during one call of ``fn()``.

    Counted above what was allocated when the call started: tensors created before the call
    (its inputs) are not counted, tensors created inside it are, including temporaries freed
    before it returns and the returned result (alive when the call ends).

    How:
        - CPU: ``torch.profiler.profile(profile_memory=True)`` records one event per
          allocation (+bytes) and per free (-bytes) made through PyTorch's CPU allocator,
          including the scratch buffers of fused kernels that no Python code ever sees.
          Summing the changes in time order gives the bytes alive after each event; the
          peak is the largest such sum. Memory that libraries allocate outside PyTorch's
          allocator (e.g. inside BLAS) is not seen; neither are Python objects.
        - CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus
          the bytes allocated before the call.

    The peak is exact and repeatable (it does not depend on timing), so unlike a time it can
    be measured once. Profiling makes the call itself slower: never time inside it.

    Args:
        fn: the work, with no arguments.
        device: where ``fn`` allocates (``"cpu"`` or ``"cuda"``).

    Returns:
        Peak bytes above the start (0 if ``fn`` allocates nothing).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        del result
        return max(0, torch.cuda.max_memory_allocated(device) - start)
    if device.type != "cpu":
        raise ValueError(f"peak_memory measures CPU or CUDA; got device {device}")
    return _peak_cpu_bytes(fn)


# ----------------------------------------------------------------------------------------------
# Sweeps over sequence length
# ----------------------------------------------------------------------------------------------


def attention_inputs(
    kind: str,
    n: int,
    *,
    batch: int = 1,
    d: int = 64,
    heads: int = 1,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Random queries, keys and values shaped as the model would hand them to ``kind``.

    Hydra (any kind named "hydra…", such as ``fused.fused_hydra_attention``) works on
    ``(batch, n, d)`` (its d heads of size 1 need no split); the other kernels on
    ``(batch, heads, n, d // heads)``, as ``SelfAttention`` splits them. Standard normal
    entries from a generator seeded with ``seed``.
    """
    if d % heads != 0:
        raise ValueError(f"heads must divide d; got d={d}, heads={heads}")
    shape = (batch, n, d) if kind.startswith("hydra") else (batch, heads, n, d // heads)
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(shape, generator=generator, dtype=dtype) for _ in range(3))
    return q.to(device), k.to(device), v.to(device)


def sweep_lengths(
    kinds: Iterable[str] | Mapping[str, AttentionKernel],
    lengths: Sequence[int],
    *,
    d: int = 64,
    batch: int = 1,
    tokens: int | None = None,
    heads: int = 1,
    causal: bool = True,
    backward: bool = False,
    memory: bool = True,
    repeats: int = 5,
    min_seconds: float = 0.02,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Time (and measure the peak memory of) attention kernels at each sequence length.

    For each kernel and each n: build inputs with ``attention_inputs`` (so softmax and linear
    split d into ``heads`` heads, Hydra always has d heads of one feature); time one call
    ``kernel(q, k, v, causal=causal)`` at every point together, with ``time_calls`` (repeats
    interleaved, so that a burst of machine noise cannot spoil one kernel's curve and not
    another's; all points' inputs are held meanwhile); then ``peak_memory`` of each.

    What is held fixed as n grows:
        - by default the **batch** (``batch`` sequences): the work per call then grows
          exactly as the kernel's cost in n, so log-log slopes read off as exponents;
        - with ``tokens=T``, the **number of tokens** per call: ``batch = max(1, T // n)``,
          as a training run with a fixed token budget would. A kernel linear in n then
          takes about the same time at every n (until batch reaches 1).

    Args:
        kinds: kernel names from ``ATTENTION_KERNELS``, or ``{name: kernel}`` for your own.
        lengths: the sequence lengths n to measure.
        d: model width (features per token, all heads together).
        batch, tokens: see above.
        heads: heads of the softmax / linear / LinRec kernels (Hydra ignores it).
        causal: causal (next-item) or bidirectional attention.
        backward: time forward + backward (gradients of ``out.sum()`` to q, k and v)
            instead of the forward pass alone (which runs under ``torch.no_grad``).
        memory: also measure peak memory (one extra, profiled call per point).
        repeats, min_seconds: passed to ``time_calls``.
        dtype, device, seed: of the inputs.
        progress: print one line per point once all are measured (for long sweeps).

    Returns:
        One row per (kind, n), columns ``kind, n, batch, d, heads, causal, backward,
        seconds`` (best per call), ``median_seconds``, ``tokens_per_second`` and
        ``peak_bytes`` (NaN when ``memory=False``).
    """
    kernels = (
        dict(kinds)
        if isinstance(kinds, Mapping)
        else {kind: ATTENTION_KERNELS[kind] for kind in kinds}
    )
    points = {}  # (kind, n) -> (rows in the batch, the call to time)
    for kind, kernel in kernels.items():
        for n in lengths:
            rows_in_batch = max(1, tokens // n) if tokens is not None else batch
            q, k, v = attention_inputs(
                kind,
                n,
                batch=rows_in_batch,
                d=d,
                heads=heads,
                dtype=dtype,
                device=device,
                seed=seed,
            )
            points[kind, n] = rows_in_batch, attention_call(kernel, q, k, v, causal, backward)
    timings = time_calls(
        {point: work for point, (_, work) in points.items()},
        repeats=repeats,
        min_seconds=min_seconds,
        device=device,
    )
    rows = []
    for (kind, n), (rows_in_batch, work) in points.items():
        timing = timings[kind, n]
        peak = peak_memory(work, device=device) if memory else math.nan
        rows.append(
            {
                "kind": kind,
                "n": n,
                "batch": rows_in_batch,
                "d": d,
                "heads": d if kind.startswith("hydra") else heads,
                "causal": causal,
                "backward": backward,
                "seconds": timing.best,
                "median_seconds": timing.median,
                "tokens_per_second": rows_in_batch * n / timing.best,
                "peak_bytes": peak,
            }
        )
        if progress:
            print(f"{kind:>10}  n={n:<6} {timing.best * 1e3:10.3f} ms  {peak / 2**20:9.2f} MiB")
    return pd.DataFrame(rows)


def attention_call(
    kernel: AttentionKernel, q: Tensor, k: Tensor, v: Tensor, causal: bool, backward: bool
) -> Callable[[], object]:
    """The function that sweeps time: one forward (no autograd) or one forward + backward."""
    if not backward:

        def forward() -> Tensor:
            with torch.no_grad():
                return kernel(q, k, v, causal=causal)

        return forward

    leaves = [x.detach().requires_grad_(True) for x in (q, k, v)]

    def forward_backward() -> tuple[Tensor, ...]:
        out = kernel(*leaves, causal=causal)
        return torch.autograd.grad(out.sum(), leaves)

    return forward_backward


# ----------------------------------------------------------------------------------------------
# Log-log slopes and crossovers
# ----------------------------------------------------------------------------------------------


def loglog_slope(n: Sequence[float], y: Sequence[float], last: int | None = 3) -> float:
    """Exponent p of y ≈ c·n^p: slope of the least-squares line through (log n, log y).

    Args:
        n: sizes (positive).
        y: measurements at those sizes (positive), e.g. seconds or bytes.
        last: fit only the ``last`` largest n (default 3), where fixed per-call costs
            matter least; ``None`` fits every point.

    Returns:
        The fitted slope (2.0 for y = c·n², 1.0 for y = c·n).
    """
    n_array = np.asarray(n, dtype=float)
    y_array = np.asarray(y, dtype=float)
    if n_array.shape != y_array.shape or n_array.ndim != 1:
        raise ValueError(
            f"n and y must be 1-d, of equal length; got {n_array.shape}, {y_array.shape}"
        )
    order = np.argsort(n_array)
    n_array, y_array = n_array[order], y_array[order]
    if last is not None:
        n_array, y_array = n_array[-last:], y_array[-last:]
    if len(np.unique(n_array)) < 2:
        raise ValueError("a slope needs measurements at two different n at least")
    if np.any(n_array <= 0) or np.any(y_array <= 0):
        raise ValueError("log-log slopes need positive n and y")
    slope, _intercept = np.polyfit(np.log(n_array), np.log(y_array), 1)
    return float(slope)


def fit_slopes(table: pd.DataFrame, column: str = "seconds", last: int | None = 3) -> pd.DataFrame:
    """``loglog_slope`` of ``column`` against n for each kind in a ``sweep_lengths`` table.

    Returns:
        One row per kind: ``kind``, ``measured`` slope and ``expected`` slope (from
        ``EXPECTED_SLOPES``, NaN for kinds it does not list), fitted over the ``last`` largest n.
    """
    expected = EXPECTED_SLOPES.get(column, {})
    rows = [
        {
            "kind": kind,
            "measured": loglog_slope(group["n"], group[column], last=last),
            "expected": expected.get(str(kind), math.nan),
        }
        for kind, group in table.groupby("kind", sort=False)
    ]
    return pd.DataFrame(rows)


def crossover_length(
    table: pd.DataFrame, fast: str, slow: str, column: str = "seconds"
) -> int | None:
    """Smallest measured n from which ``fast`` beats ``slow`` at every larger measured n too.

    "Beats" means a smaller ``column`` (time by default). Returns None if ``fast`` is not
    ahead at the largest n measured. Only measured lengths are candidates: the true crossover
    lies between this n and the next smaller one measured.
    """
    pivot = table.pivot_table(index="n", columns="kind", values=column).sort_index()
    ahead = (pivot[fast] < pivot[slow]).to_numpy()
    if not ahead[-1]:
        return None
    first = len(ahead)
    while first > 0 and ahead[first - 1]:
        first -= 1
    return int(pivot.index[first])


# ----------------------------------------------------------------------------------------------
# Comparing results
# ----------------------------------------------------------------------------------------------


def max_abs_difference(actual: Tensor, expected: Tensor) -> float:
    """Largest |actual - expected| over all entries, in float64 (0.0 for empty tensors)."""
    if actual.shape != expected.shape:
        raise ValueError(f"shapes differ: {tuple(actual.shape)} and {tuple(expected.shape)}")
    if actual.numel() == 0:
        return 0.0
    return (actual.double() - expected.double()).abs().max().item()


def check_close(
    label: str, actual: Tensor, expected: Tensor, *, atol: float, rtol: float = 0.0
) -> None:
    """Assert ``actual`` ≈ ``expected`` (``torch.testing.assert_close``), print one line.

    The printed line states the setting (shape, dtype) and the tolerance that was met, not
    the exact difference: the last bits of a floating-point result differ between machines
    and libraries, so "max |Δ| = 2.2e-16" on one computer is "4.4e-16" on another. The line
    is therefore the same wherever the check passes (nbval can compare it), and a failure
    raises with the full report of ``assert_close``.

    Example output: ``✓ fast vs reference: 2×16×8, float64, max |Δ| ≤ 1e-12``.
    """
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol)
    tolerance = f"≤ {atol:.0e}" + (f" + {rtol:.0e}·|expected|" if rtol else "")
    shape = "×".join(str(size) for size in actual.shape) or "scalar"
    dtype = str(actual.dtype).removeprefix("torch.")
    print(f"✓ {label}: {shape}, {dtype}, max |Δ| {tolerance}")


__all__ = [
    "EXPECTED_SLOPES",
    "THREAD_VARIABLES",
    "Timing",
    "attention_inputs",
    "check_close",
    "crossover_length",
    "describe_machine",
    "fit_slopes",
    "loglog_slope",
    "max_abs_difference",
    "peak_memory",
    "sweep_lengths",
    "time_call",
    "time_calls",
]
