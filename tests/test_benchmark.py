"""The measuring helpers measure what they say: memory of known allocations, slopes of known
powers, sweeps with the documented shape. No test asserts on a time (machines differ)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from devices import NEEDS_CUDA

from hydrarec_minimal.attention import hydra_attention, hydra_attention_reference
from hydrarec_minimal.course import benchmark
from hydrarec_minimal.course.benchmark import (
    EXPECTED_SLOPES,
    STEADY_MALLOC,
    Timing,
    attention_inputs,
    check_close,
    crossover_length,
    describe_machine,
    fit_slopes,
    loglog_slope,
    max_abs_difference,
    peak_memory,
    steady_allocator,
    sweep_lengths,
    time_call,
    time_calls,
)

MIB = 2**20


# ----------------------------------------------------------------------------------------------
# Peak memory
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mebibytes", [1, 8, 32])
def test_peak_memory_reports_a_tensor_allocated_inside_the_call(mebibytes):
    size = mebibytes * MIB
    peak = peak_memory(lambda: torch.ones(size // 4, dtype=torch.float32))
    assert size <= peak <= size + 64 * 1024


def test_peak_memory_counts_temporaries_freed_before_the_call_returns():
    def make_and_drop() -> None:
        big = torch.zeros(4 * MIB // 8, dtype=torch.float64)
        big.add_(1)
        del big

    assert 4 * MIB <= peak_memory(make_and_drop) <= 4 * MIB + 64 * 1024


def test_peak_memory_is_the_largest_moment_not_the_sum_of_allocations():
    """Two 4 MiB tensors, one after the other: 4 MiB alive at most, 8 MiB allocated in all."""

    def one_after_the_other() -> None:
        for _ in range(2):
            scratch = torch.empty(MIB, dtype=torch.float32)
            scratch.fill_(1.0)
            del scratch

    assert 4 * MIB <= peak_memory(one_after_the_other) < 5 * MIB

    def both_at_once() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.empty(MIB, dtype=torch.float32), torch.empty(MIB, dtype=torch.float32)

    assert 8 * MIB <= peak_memory(both_at_once) < 9 * MIB


def test_peak_memory_does_not_count_inputs_allocated_before_the_call():
    existing = torch.ones(8 * MIB // 4)
    assert peak_memory(lambda: existing.sum()) < 64 * 1024
    assert peak_memory(lambda: None) == 0


def test_peak_memory_sees_the_n_by_n_matrices_of_the_reference():
    """Hydra's reference builds d score matrices of n x n; the fast path never does."""
    n, d = 512, 8
    q, k, v = attention_inputs("hydra", n, d=d, dtype=torch.float32)
    with torch.no_grad():
        reference = peak_memory(lambda: hydra_attention_reference(q, k, v, causal=True))
        fast = peak_memory(lambda: hydra_attention(q, k, v, causal=True))
    assert reference >= d * n * n * 4
    assert fast <= 8 * n * d * 4


def test_peak_memory_rejects_unknown_devices():
    with pytest.raises(ValueError, match="CPU or CUDA"):
        peak_memory(lambda: None, device="meta")


@NEEDS_CUDA
def test_peak_memory_on_cuda_reports_a_tensor_allocated_inside_the_call():
    size = 16 * MIB
    peak = peak_memory(lambda: torch.ones(size // 4, device="cuda"), device="cuda")
    assert size <= peak <= size + MIB


# ----------------------------------------------------------------------------------------------
# Time
# ----------------------------------------------------------------------------------------------


def test_time_call_runs_warm_up_then_repeats_and_reports_per_call_seconds():
    calls = []
    timing = time_call(lambda: calls.append(1), repeats=3, min_seconds=0.0)
    assert isinstance(timing, Timing)
    assert timing.repeats == 3 and timing.number == 1
    # Timer.timeit runs 2 untimed calls before each batch: a calibration batch of 1 call,
    # then 3 timed batches of 1 call, each after its 2 untimed calls
    assert len(calls) == 3 + 3 * 3
    assert 0 < timing.best <= timing.median


def test_time_calls_takes_its_timed_batches_in_turns():
    order = []
    timings = time_calls(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")},
        repeats=3,
        min_seconds=0.0,
    )
    assert list(timings) == ["a", "b"] and all(t.repeats == 3 for t in timings.values())
    # each calibrated on its own (one batch: 2 untimed calls + 1), then rounds a, b, a, b, ...
    assert order == ["a"] * 3 + ["b"] * 3 + (["a"] * 3 + ["b"] * 3) * 3
    with pytest.raises(ValueError, match="repeats"):
        time_calls({"a": lambda: None}, repeats=0)


def test_time_call_batches_short_calls_until_a_batch_is_long_enough():
    timing = time_call(lambda: None, repeats=2, min_seconds=0.005, max_number=64)
    assert timing.number == 64  # a no-op never lasts 5 ms, so the cap is reached
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, repeats=0)


# ----------------------------------------------------------------------------------------------
# Slopes and crossovers
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 3.0])
def test_loglog_slope_recovers_the_power_of_a_power_law(power):
    n = np.array([16, 64, 256, 1024, 4096])
    assert loglog_slope(n, 3.7e-6 * n**power) == pytest.approx(power, abs=1e-9)


def test_loglog_slope_fits_only_the_largest_n():
    """A fixed overhead flattens small n; the last points still read as n²."""
    n = np.array([2, 4, 8, 16, 1024, 2048, 4096], dtype=float)
    y = 1.0 + 1e-3 * n**2
    assert loglog_slope(n, y, last=3) == pytest.approx(2.0, abs=0.01)
    assert loglog_slope(n, y, last=None) < 1.5
    shuffled = np.random.default_rng(0).permutation(len(n))  # order of the points is irrelevant
    assert loglog_slope(n[shuffled], y[shuffled]) == pytest.approx(loglog_slope(n, y))


def test_loglog_slope_rejects_what_it_cannot_fit():
    with pytest.raises(ValueError, match="two different n"):
        loglog_slope([8, 8], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([1, 2, 4], [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="equal length"):
        loglog_slope([1, 2, 4], [1.0, 2.0])


def synthetic_table() -> pd.DataFrame:
    n = np.array([64, 128, 256, 512, 1024])
    return pd.DataFrame(
        {
            "kind": ["softmax"] * 5 + ["hydra"] * 5,
            "n": np.concatenate([n, n]),
            "seconds": np.concatenate([1e-7 * n**2, 2e-5 * n]),  # equal at n = 200
        }
    )


def test_fit_slopes_gives_one_slope_per_kind_beside_the_expected_one():
    slopes = fit_slopes(synthetic_table()).set_index("kind")
    assert list(slopes.index) == ["softmax", "hydra"]
    assert slopes.loc["softmax", "measured"] == pytest.approx(2.0)
    assert slopes.loc["hydra", "measured"] == pytest.approx(1.0)
    assert slopes.loc["softmax", "expected"] == EXPECTED_SLOPES["seconds"]["softmax"] == 2.0
    assert slopes.loc["hydra", "expected"] == 1.0


def test_crossover_length_is_the_first_n_from_which_the_fast_kernel_stays_ahead():
    table = synthetic_table()
    assert crossover_length(table, fast="hydra", slow="softmax") == 256
    assert crossover_length(table, fast="softmax", slow="hydra") is None
    # a lucky early win followed by a loss does not count as the crossover
    noisy = table.copy()
    noisy.loc[(noisy.kind == "hydra") & (noisy.n == 64), "seconds"] = 1e-9
    assert crossover_length(noisy, fast="hydra", slow="softmax") == 256
    # ahead everywhere: the smallest n
    ahead = table.copy()
    ahead.loc[ahead.kind == "hydra", "seconds"] = 1e-12
    assert crossover_length(ahead, fast="hydra", slow="softmax") == 64


# ----------------------------------------------------------------------------------------------
# Sweeps
# ----------------------------------------------------------------------------------------------


def test_attention_inputs_have_the_shapes_each_kernel_expects():
    q, k, v = attention_inputs("hydra", 10, batch=2, d=8, heads=4)
    assert q.shape == k.shape == v.shape == (2, 10, 8)
    fused, _, _ = attention_inputs("hydra (fused)", 10, batch=2, d=8, heads=4)
    assert torch.equal(fused, q)  # any "hydra…" kind: Hydra's shape and numbers
    q, _, _ = attention_inputs("softmax", 10, batch=2, d=8, heads=4)
    assert q.shape == (2, 4, 10, 2)
    again, _, _ = attention_inputs("softmax", 10, batch=2, d=8, heads=4)
    assert torch.equal(q, again)  # seeded
    with pytest.raises(ValueError, match="heads must divide d"):
        attention_inputs("linear", 10, d=8, heads=3)


def test_sweep_lengths_returns_one_row_per_kind_and_length():
    table = sweep_lengths(
        ["softmax", "hydra"], [8, 32], d=8, batch=2, repeats=1, min_seconds=0.0, causal=False
    )
    assert list(table.columns) == [
        "kind", "n", "batch", "d", "heads", "causal", "backward",
        "seconds", "median_seconds", "tokens_per_second", "peak_bytes",
    ]  # fmt: skip
    assert list(zip(table.kind, table.n, strict=True)) == [
        ("softmax", 8), ("softmax", 32), ("hydra", 8), ("hydra", 32)
    ]  # fmt: skip
    assert (table.seconds > 0).all() and (table.peak_bytes > 0).all()
    assert list(table.heads) == [1, 1, 8, 8]  # Hydra: one head per feature
    # the output alone, (2, n, 8) float32, is alive at the end of the call
    assert (table.peak_bytes >= 2 * table.n * 8 * 4).all()


def test_sweep_lengths_holds_the_token_count_fixed_when_asked():
    table = sweep_lengths(
        ["hydra"], [16, 64, 256], d=4, tokens=128, repeats=1, min_seconds=0.0, memory=False
    )
    assert list(table.batch) == [8, 2, 1]
    assert table.peak_bytes.isna().all()


def test_sweep_lengths_times_forward_and_backward_and_custom_kernels():
    calls = []

    def counting_hydra(q, k, v, causal=False):
        calls.append(torch.is_grad_enabled())
        return hydra_attention(q, k, v, causal=causal)

    table = sweep_lengths(
        {"mine": counting_hydra}, [16], d=4, repeats=1, min_seconds=0.0, backward=True
    )
    assert list(table.kind) == ["mine"] and bool(table.backward.iloc[0])
    assert calls and all(calls)  # autograd on when timing forward + backward
    calls.clear()
    sweep_lengths({"mine": counting_hydra}, [16], d=4, repeats=1, min_seconds=0.0)
    assert calls and not any(calls)  # forward alone runs without autograd


def test_hydra_memory_grows_linearly_and_the_reference_quadratically():
    """Memory is exact, so its slopes can be tested (times cannot)."""
    lengths = [128, 256, 512]
    table = sweep_lengths(
        {"hydra": hydra_attention, "reference": hydra_attention_reference},
        lengths,
        d=8,
        repeats=1,
        min_seconds=0.0,
    )
    slopes = fit_slopes(table, "peak_bytes").set_index("kind")["measured"]
    assert slopes["hydra"] == pytest.approx(1.0, abs=0.05)
    assert slopes["reference"] == pytest.approx(2.0, abs=0.1)


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------


def test_check_close_prints_a_machine_independent_line_and_raises_when_far(capsys):
    a = torch.zeros(2, 3, dtype=torch.float64)
    check_close("zeros", a, a + 1e-15, atol=1e-12)
    assert capsys.readouterr().out == "✓ zeros: 2×3, float64, max |Δ| ≤ 1e-12\n"
    check_close("relative", a + 1, a + 1, atol=1e-12, rtol=1e-9)
    assert (
        capsys.readouterr().out == "✓ relative: 2×3, float64, max |Δ| ≤ 1e-12 + 1e-09·|expected|\n"
    )
    with pytest.raises(AssertionError):
        check_close("far", a, a + 1.0, atol=1e-12)
    assert max_abs_difference(a, a + 0.5) == 0.5
    assert math.isclose(max_abs_difference(a[:0], a[:0]), 0.0)


def test_describe_machine_names_the_cpu_threads_and_torch(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    line = describe_machine()
    assert f"{torch.get_num_threads()} torch threads" in line
    assert torch.__version__ in line
    assert "OMP_WAIT_POLICY" not in line
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # settings that change timings are named
    assert "; OMP_WAIT_POLICY=PASSIVE" in describe_machine()


def test_steady_allocator_restarts_the_program_once_with_the_malloc_settings(monkeypatch):
    restarts = []
    monkeypatch.setattr(benchmark.platform, "system", lambda: "Linux")
    monkeypatch.setattr(benchmark.os, "execve", lambda *args: restarts.append(args))
    for name in STEADY_MALLOC:
        monkeypatch.delenv(name, raising=False)
    assert "steady malloc" not in describe_machine()
    steady_allocator()
    ((program, argv, environment),) = restarts
    assert program == sys.executable and argv[1:] == sys.argv
    assert all(environment[name] == value for name, value in STEADY_MALLOC.items())
    for name, value in STEADY_MALLOC.items():  # as in the restarted program
        monkeypatch.setenv(name, value)
    steady_allocator()
    assert len(restarts) == 1, "a program that already has the settings is not restarted"
    assert describe_machine().endswith("; steady malloc")


def test_steady_allocator_does_nothing_off_linux(monkeypatch):
    monkeypatch.setattr(benchmark.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(benchmark.os, "execve", lambda *args: pytest.fail("restarted"))
    for name in STEADY_MALLOC:
        monkeypatch.delenv(name, raising=False)
    steady_allocator()
