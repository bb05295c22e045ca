"""Measuring attention: time, peak memory, sweeps over sequence length, log-log slopes.

- ``time_call(fn)`` / ``time_calls({key: fn})``: seconds per call (best and median of several
  timed batches), with ``torch.utils.benchmark.Timer``; ``time_calls`` takes the batches of
  all functions in turns, so that a burst of machine noise slows all of them alike.
- ``peak_memory(fn)``: most bytes of tensor memory alive during one call, above what was
  allocated before it.
- ``sweep_lengths(kinds, lengths)``: both for attention kernels at each sequence length.
- ``loglog_slope``, ``fit_slopes``, ``crossover_length``: read exponents and crossovers off a
  sweep.
- ``describe_machine()``: the one line naming the machine, printed (and stored in results)
  beside every measurement; ``max_abs_difference`` and ``check_close`` compare tensors.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from hydrarec_minimal.attention import ATTENTION_KERNELS, AttentionKernel, get_attention_kernel
from hydrarec_minimal.fast.toolchain import import_compiler_quietly

#: Exponent p in "cost grows like n^p" (fixed d and heads, no padding mask), as derived in
#: notebook 01. Peak memory: ``softmax`` (PyTorch's fused ``scaled_dot_product_attention``)
#: never holds the n x n scores, the textbook ``softmax_explicit`` does.
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


def attention_flops(kind: str, n: int, d: int, heads: int = 1) -> float:
    """Leading-order multiply-adds of one attention call on one sequence: softmax 2·n²·d,
    linear/LinRec 2·n·d²/heads, hydra 2·n·d."""
    if kind == "softmax":
        return 2.0 * n * n * d
    if kind in ("linear", "linrec"):
        return 2.0 * n * d * d / heads
    get_attention_kernel(kind)  # ValueError for an unknown kind
    return 2.0 * n * d


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
    """Restart this Python program with ``STEADY_MALLOC`` set, unless it already is (Linux only).

    Freed CPU tensor memory then stays in the process, so repeated calls do not pay page
    faults for fresh memory; the benchmark scripts call this first. The settings are read only
    at start-up, hence the restart (``os.execve``).
    """
    if platform.system() != "Linux" or steady_malloc_is_set():
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | STEADY_MALLOC)


def steady_malloc_is_set() -> bool:
    """Does this process run with every ``STEADY_MALLOC`` setting?"""
    return all(os.environ.get(name) == value for name, value in STEADY_MALLOC.items())


def describe_machine(device: str | torch.device = "cpu") -> str:
    """One line naming the hardware, torch, Python and OS a measurement ran on.

    E.g. ``"cpu: x86_64, 2 logical cores, 2 torch threads; torch 2.13.0+cpu; Python 3.11.7;
    Linux"``, then any ``THREAD_VARIABLES`` that are set and "steady malloc" under
    ``steady_allocator``. On CUDA (``"cuda: NVIDIA H100 ..."``) the GPU's name replaces the CPU
    details.
    """
    device = torch.device(device)
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        hardware = (
            f"{platform.machine()}, {os.cpu_count() or 0} logical cores, {threads} torch threads"
        )
    software = f"torch {torch.__version__}; Python {platform.python_version()}; {platform.system()}"
    settings = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    if steady_malloc_is_set():
        settings.append("steady malloc")
    return "; ".join([f"{device.type}: {hardware}", software, *settings])


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
    """Seconds per call of ``fn()``: ``time_calls`` with one function."""
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
    """Time several functions with ``torch.utils.benchmark.Timer``, their batches in turns.

    Each function gets the number of back-to-back calls (doubling, at most ``max_number``)
    that makes one batch last ``min_seconds``; then ``repeats`` rounds time one batch of
    every function in turn. ``Timer.timeit`` runs ``max(number // 100, 2)`` untimed calls
    before each batch, uses the current number of torch threads and synchronises the GPU.

    Args:
        calls: ``{key: function with no arguments}``.
        repeats: timed batches per function (at least 1).
        min_seconds, max_number: see above.
        device: where the functions run (``Timer`` synchronises any accelerator itself).

    Returns:
        ``{key: Timing}`` in seconds per call, keys in the order of ``calls``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    import_compiler_quietly()  # torch.utils.benchmark imports the C++ build helpers
    from torch.utils.benchmark import Timer

    threads = torch.get_num_threads()
    timers = {
        key: Timer("fn()", globals={"fn": fn}, num_threads=threads) for key, fn in calls.items()
    }
    numbers = {}
    for key, timer in timers.items():
        number = 1
        while number < max_number and timer.timeit(number).raw_times[0] < min_seconds:
            number = min(2 * number, max_number)
        numbers[key] = number
    seconds: dict[Hashable, list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, timer in timers.items():
            seconds[key].append(timer.timeit(numbers[key]).mean)
    return {
        key: Timing(min(times), statistics.median(times), numbers[key], repeats)
        for key, times in seconds.items()
    }


# ----------------------------------------------------------------------------------------------
# Peak memory
# ----------------------------------------------------------------------------------------------


def quiet_profiler() -> None:
    """Silence the profiler's "profiler_start/stop" lines (read once, when it first starts)."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")


def _peak_cpu_bytes(fn: Callable[[], object]) -> int:
    """CPU peak memory from the PyTorch profiler's allocation (+) and free (-) events."""
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

    Counted above what was allocated when the call started: the inputs built beforehand do
    not count; temporaries and the returned result do. CPU: from the PyTorch profiler's
    allocation events (memory allocated outside PyTorch, e.g. inside BLAS, is not seen);
    CUDA: ``torch.cuda.max_memory_allocated``. Exact and repeatable, so measured once.

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
    """Seeded standard-normal queries, keys and values shaped as the model hands them to ``kind``.

    ``(batch, n, d)`` for Hydra (any kind named "hydra…"), ``(batch, heads, n, d // heads)``
    for the other kernels.
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
    """Time (and peak memory) of attention kernels at each sequence length.

    Every (kernel, n) point is timed together with ``time_calls`` (batches in turns), then
    ``peak_memory`` of each. By default the ``batch`` is fixed as n grows (slopes read off as
    exponents); with ``tokens=T`` the tokens per call are: ``batch = max(1, T // n)``.

    Args:
        kinds: kernel names from ``ATTENTION_KERNELS``, or ``{name: kernel}``.
        lengths: the sequence lengths n.
        d: model width; heads: heads of softmax / linear / LinRec (Hydra has d heads).
        batch, tokens: see above.
        causal: causal or bidirectional attention.
        backward: time forward + backward (gradients of ``out.sum()``) instead of the forward
            pass alone (under ``torch.no_grad``).
        memory: also measure peak memory (one profiled call per point).
        repeats, min_seconds: passed to ``time_calls``.
        dtype, device, seed: of the inputs.
        progress: print one line per point once all are measured.

    Returns:
        One row per (kind, n): ``kind, n, batch, d, heads, causal, backward, seconds`` (best
        per call), ``median_seconds``, ``tokens_per_second``, ``peak_bytes`` (NaN without
        ``memory``).
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

    The line states shape, dtype and the tolerance met, not the difference (whose last bits
    vary between machines), so it is the same wherever the check passes, e.g.
    ``✓ fast vs reference: 2×16×8, float64, max |Δ| ≤ 1e-12``.
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
