"""Compiled inference (AOTInductor): replaces the eager call of a function of tensors.

Eager PyTorch pays a few microseconds of dispatch per operation whatever its size, which is
almost all of a small call such as a streaming step. ``CompiledInference`` turns the function
into one compiled program per input signature (shapes, strides, dtypes, devices): traced by
``torch.export``, compiled by ``torch._inductor.aoti_compile_and_package`` with the weights
frozen in (**build a new one after changing the weights**), and loaded as a callable:

    fast = CompiledInference(model.score_last)
    scores = fast(items)          # first call at a shape: compiles (seconds); then fast

    fast_step = compile_step(model)             # streaming.step, compiled
    state, scores = fast_step(state, items)     # as step(model, state, items)

Every call runs under ``torch.inference_mode``. ``autotune`` lets inductor time its own
small matrix-multiply kernels (slower to compile). ``torch.use_deterministic_algorithms`` is
switched off while compiling (it makes inductor write slower code) and put back afterwards.
CPU only: inputs on another device run the eager function, with one warning, because a
compiled CUDA program once crashed its process. Where compiling fails (no C++ compiler, an
unsupported function or platform) the first call warns and every call runs eagerly.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

import torch
from torch import Tensor

from hydrarec_minimal.fast.toolchain import import_compiler_quietly
from hydrarec_minimal.model import SequentialRecommender
from hydrarec_minimal.streaming import StreamState, advance, check_step_inputs, check_streamable

Result = TypeVar("Result")

#: Why inputs off the CPU run eagerly (see the module docstring).
CPU_ONLY = "compiled programs are built for CPU inputs only (a CUDA one crashed its process)"


def _on_the_cpu(args: tuple[Tensor, ...]) -> bool:
    return all(arg.device.type == "cpu" for arg in args)


class CompiledInference(Generic[Result]):
    """``function`` compiled for inference (see the module), with an eager fallback.

    Args:
        function: a function of positional tensor arguments, e.g. a model's ``score_last``;
            the weights it uses are copied into each compiled program.
        autotune: let inductor time its own matrix-multiply kernels (slower to compile, faster
            to run at small batches).

    Attributes:
        fallback_reason: ``None`` while compiling works; else why it failed or was not tried
            (inputs off the CPU): the calls are then eager.
        programs: ``{input signature: compiled program}``, one compile each.
    """

    def __init__(self, function: Callable[..., Result], *, autotune: bool = True) -> None:
        self.function = function
        self.autotune = autotune
        self.fallback_reason: str | None = None
        self.programs: dict[tuple, Callable[..., Result]] = {}
        # the compiled packages; removed with this object (a loaded library cannot be deleted
        # on Windows, hence ignore_cleanup_errors)
        self._folder = tempfile.TemporaryDirectory(
            prefix="hydrarec_compiled_", ignore_cleanup_errors=True
        )

    def __call__(self, *args: Tensor) -> Result:
        with torch.inference_mode():
            if self.fallback_reason is None and not _on_the_cpu(args):
                self._fall_back(CPU_ONLY)
            if self.fallback_reason is None:
                signature = tuple((a.shape, a.stride(), a.dtype, a.device) for a in args)
                program = self.programs.get(signature)
                if program is not None:
                    return program(*args)
                try:
                    program = self._compile(args)
                    result = program(*args)
                except Exception as error:
                    # An error of the function itself is raised again by the eager call below
                    # (and compiling stays on); if the eager call works, the compiler failed.
                    result = self.function(*args)
                    self._fall_back(f"{type(error).__name__}: {error}".splitlines()[0])
                    return result
                self.programs[signature] = program
                return result
            return self.function(*args)

    def _compile(self, args: tuple[Tensor, ...]) -> Callable[..., Result]:
        """Export ``function`` at the shapes of ``args`` and compile it with AOTInductor."""
        # export traces ordinary tensors: copies made outside inference mode
        with torch.inference_mode(False):
            examples = tuple(arg.clone() for arg in args)
        settings = {
            "freezing": True,
            "max_autotune": self.autotune,
            "autotune_num_choices_displayed": 0,  # no timing tables on the screen
            "max_autotune_report_choices_stats": False,
        }
        import_compiler_quietly()
        deterministic = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(False)
        try:
            with (
                torch.inference_mode(False),
                torch.no_grad(),
                torch._inductor.config.patch(settings),
                warnings.catch_warnings(),
            ):
                warnings.filterwarnings("ignore", "TypedStorage is deprecated")  # inductor's
                exported = torch.export.export(_AsModule(self.function), examples)
                package = Path(self._folder.name) / f"program_{len(self.programs)}.pt2"
                torch._inductor.aoti_compile_and_package(exported, package_path=str(package))
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        return torch._inductor.aoti_load_package(str(package))

    def _fall_back(self, reason: str) -> None:
        self.fallback_reason = reason
        warnings.warn(
            f"cannot compile {self.function!r} ({self.fallback_reason}); running it eagerly",
            RuntimeWarning,
            stacklevel=3,
        )


class _AsModule(torch.nn.Module):
    """``torch.export`` takes modules: this one's ``forward`` is ``function``."""

    def __init__(self, function: Callable) -> None:
        super().__init__()
        self.function = function

    def forward(self, *args: Tensor):
        return self.function(*args)


def compile_step(
    model: SequentialRecommender, *, autotune: bool = True
) -> Callable[[StreamState, Tensor], tuple[StreamState, Tensor]]:
    """``streaming.step`` for this model as one compiled program: same arguments and results.

    The first call at each batch size compiles (tens of seconds with ``autotune``) and copies
    the weights: compile after training. A model off the CPU, or a failing compiler, runs the
    eager step with a warning. ``ValueError`` for a model that cannot stream.

    Returns:
        ``fast_step(state, items) -> (new state, scores)``, checking its inputs as ``step``
        does; scores equal ``step``'s up to float rounding. ``fast_step.compiled`` is the
        ``CompiledInference`` (its ``programs``: one per batch size compiled).
    """
    check_streamable(model)
    program = CompiledInference(partial(advance, model), autotune=autotune)

    def fast_step(state: StreamState, items: Tensor) -> tuple[StreamState, Tensor]:
        check_step_inputs(model, state, items)
        # a program is compiled for its inputs' memory layout: a column of a batch of
        # histories (strided) is made contiguous, to use the same program as other items
        sums, seen, scores = program(state.sums, state.seen, items.contiguous())
        return StreamState(sums=sums, seen=seen), scores

    fast_step.compiled = program
    return fast_step
