"""Compiled inference: compiled programs and the eager fallback give the eager results."""

from __future__ import annotations

import warnings

import pytest
import torch
from devices import NEEDS_CUDA

from hydrarec_minimal.fast import compiled
from hydrarec_minimal.fast.compiled import CompiledInference, compile_step
from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.streaming import StreamState, start_state, step


def small_hydra() -> SequentialRecommender:
    torch.manual_seed(0)
    config = ModelConfig(num_items=30, max_len=8, dim=16, layers=2, item_bias=True)
    return SequentialRecommender(config).eval()


def test_compiled_step_equals_the_eager_step_and_checks_its_inputs(tmp_path):
    """float32; tolerance 1e-5: fused kernels add the same numbers in another order."""
    model = small_hydra()
    fast_step = compile_step(model, autotune=False)
    histories = torch.randint(1, 31, (3, 12))  # past max_len = 8 too
    eager, fast = start_state(model, 3), start_state(model, 3)
    for t in range(9):
        eager, eager_scores = step(model, eager, histories[:, t])
        fast, fast_scores = fast_step(fast, histories[:, t])
        torch.testing.assert_close(fast_scores, eager_scores, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast.sums, eager.sums, rtol=1e-5, atol=1e-5)
        assert torch.equal(fast.seen, eager.seen)
    fast.save(tmp_path / "state.pt")
    restored = StreamState.load(tmp_path / "state.pt")
    for t in range(9, 12):
        fast, fast_scores = fast_step(fast, histories[:, t])
        restored, restored_scores = fast_step(restored, histories[:, t])
        assert torch.equal(fast_scores, restored_scores)
    with pytest.raises(ValueError, match=r"item ids must be in 1\.\.30"):
        fast_step(fast, torch.tensor([1, 31, 2]))
    # new, stepped and reloaded states, contiguous or strided items: all one compiled program
    assert len(fast_step.compiled.programs) == 1


def test_inputs_off_the_cpu_run_eagerly_with_one_warning():
    program = CompiledInference(lambda x: x * 2, autotune=False)
    with pytest.warns(RuntimeWarning, match="CPU inputs only"):
        doubled = program(torch.ones(3, device="meta"))  # "meta": a device that is not the CPU
    assert doubled.device.type == "meta" and doubled.shape == (3,)
    assert program.fallback_reason == compiled.CPU_ONLY and not program.programs


@NEEDS_CUDA
def test_the_compiled_step_of_a_cuda_model_is_the_eager_step():
    """Loading a CUDA program crashed the process once (compiled.py): none is built."""
    model = small_hydra().cuda()
    fast_step = compile_step(model, autotune=False)
    items = torch.tensor([3, 1, 30], device="cuda")
    with pytest.warns(RuntimeWarning, match="CPU inputs only"):
        fast, fast_scores = fast_step(start_state(model, 3), items)
    eager, eager_scores = step(model, start_state(model, 3), items)
    assert torch.equal(fast_scores, eager_scores) and torch.equal(fast.sums, eager.sums)
    assert not fast_step.compiled.programs


def failing_compiler(exported, **options):
    raise RuntimeError("no C++ compiler found\nsecond line")


def test_a_failing_compiler_warns_once_and_runs_eagerly(monkeypatch):
    monkeypatch.setattr(compiled.torch._inductor, "aoti_compile_and_package", failing_compiler)
    program = CompiledInference(lambda x: x * 2, autotune=False)
    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        assert torch.equal(program(torch.ones(3)), torch.full((3,), 2.0))
    assert program.fallback_reason == "RuntimeError: no C++ compiler found"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        assert torch.equal(program(torch.ones(2)), torch.full((2,), 2.0))


def test_an_error_of_the_function_itself_is_raised_and_compiling_stays_on(monkeypatch):
    monkeypatch.setattr(compiled.torch._inductor, "aoti_compile_and_package", failing_compiler)

    def strict(x):
        if (x < 0).any():
            raise ValueError("negative input")
        return x

    program = CompiledInference(strict, autotune=False)
    with pytest.raises(ValueError, match="negative input"):
        program(-torch.ones(2))
    assert program.fallback_reason is None


def test_compiled_calls_put_the_deterministic_setting_back_as_they_found_it():
    program = CompiledInference(lambda x: torch.sin(x) * 2, autotune=False)
    x = torch.linspace(-3, 3, 16)
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)  # as training leaves it
        first = program(x)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(False)
        assert torch.equal(program(x), first)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    assert len(program.programs) == 1
