"""Compiled inference: a function of tensors turned into one program, or run eagerly if it cannot.

Eager PyTorch runs an operation at a time, and each costs a few microseconds of dispatch
whatever its size. A streaming step (``streaming.step``) is some forty operations on
``(batch, 64)`` tensors, so for one user it is almost all dispatch: about 0.3 ms on two CPU
cores, for arithmetic that takes a few microseconds. Compiled ahead of time, the same step
is a handful of fused C++ kernels behind one call:

    fast = CompiledInference(model.score_last)
    scores = fast(items)          # first call at a shape: compiles (seconds); then fast

How: ``torch.export`` traces the function, for the shapes of the first call, into a graph
of ATen operations; AOTInductor (``torch._inductor.aoti_compile_and_package``) compiles the
graph into a shared library with the weights inside, and ``aoti_load_package`` loads it as a
callable. Unlike ``torch.compile``, the loaded program checks nothing before it runs (no
guards: on two CPU cores ``torch.compile`` spent about 30 of the 65 µs of its compiled
streaming step deciding whether its code still applied), so the inputs' signature (shapes,
strides, dtypes, devices) is checked here, and a new signature compiles a new program.
Inductor's settings at compile time:

- ``freezing``: the weights become constants of the program, so inductor can fold them and
  pre-pack the matrices of the linear layers. They are copies: **build a new
  ``CompiledInference`` after changing the weights**.
- ``max_autotune`` (``autotune=True``): inductor times its own small matrix-multiply kernels
  against the library call at each shape and keeps the faster (at batch 1, its own by
  several times). It makes compiling slower (tens of seconds on a CPU).
- ``torch.use_deterministic_algorithms`` off: training switches it on
  (``train.seed_everything``) and it stays on in that process; inductor then writes slower
  code (the compiled streaming step took 0.22 instead of 0.034 ms). The caller's setting is
  put back afterwards; the compiled CPU kernels give the same results on every call anyway.

Every call runs under ``torch.inference_mode``. Where compiling is impossible (no C++
compiler, a platform or a function that export or AOTInductor cannot handle), the first call
warns once and every call runs the eager function: the same results at eager speed.

**CPU only.** Inputs on any other device run the eager function, with one warning. On an
NVIDIA H200 with torch 2.11.0+cu130 (2026-11-27) the compiled streaming step built its CUDA
program and then crashed the whole Python process (a segmentation fault, which no ``except``
can catch) inside ``aoti_load_package``; until that is understood, no GPU program is built.
On a GPU the eager step is launch-bound rather than slow to compute; CUDA graphs
(``torch.compile(mode="reduce-overhead")``) are the tool to try there.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import torch
from torch import Tensor

from hydrarec_minimal.fast.fused import import_compiler_quietly

Result = TypeVar("Result")

#: Why inputs off the CPU run eagerly (see the module docstring).
CPU_ONLY = "compiled programs are built for CPU inputs only (a CUDA one crashed its process)"


def _on_the_cpu(args: tuple[Tensor, ...]) -> bool:
    return all(arg.device.type == "cpu" for arg in args)


class CompiledInference(Generic[Result]):
    """``function`` compiled for inference (see the module docstring), with an eager fallback.

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
