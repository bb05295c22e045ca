"""Compiled inference: a function of tensors turned into one program, or run eagerly if it cannot.

Eager PyTorch runs an operation at a time, and each costs a few microseconds of dispatch
whatever its size. A streaming step (``streaming.step``) is some forty operations on
``(batch, 64)`` tensors, so for one user it is almost all dispatch: about 0.3 ms on two CPU
cores, for arithmetic that takes a few microseconds. ``torch.compile`` traces the function
once and generates fused kernels (C++ on a CPU, Triton on a GPU) called from one wrapper:

    fast = CompiledInference(lambda items: model.score_last(items))
    scores = fast(items)          # first call at a shape: compiles (seconds); then fast

Two inductor options matter at these sizes:

- ``freezing``: the weights become constants of the program, so inductor can fold them and
  pre-pack the matrices of the linear layers (copies, made when a shape is first compiled):
  **build a new ``CompiledInference`` after changing the weights**, or it may mix old and new.
- ``max_autotune`` (``autotune=True``): inductor times its own small matrix-multiply kernels
  against the library call at each shape and keeps the faster (at batch 1 its own win several
  times over). It makes compiling slower (tens of seconds on a CPU).

Every call runs under ``torch.inference_mode`` (freezing needs gradients off). Each new input
shape compiles again (``dynamic=False``: a server calls with a few fixed batch sizes). Where
compiling is impossible (no C++ compiler, a Python version or platform that ``torch.compile``
does not support), the first call warns once and every call runs the eager function: the
same results at eager speed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Generic, TypeVar

import torch
from torch import Tensor

Result = TypeVar("Result")


class CompiledInference(Generic[Result]):
    """``function`` compiled for inference (see the module docstring), with an eager fallback.

    Args:
        function: a function of positional tensor arguments, e.g. a model's ``score_last``;
            the weights it uses are read once per input shape.
        autotune: let inductor time its own matrix-multiply kernels (slower to compile, faster
            to run at small batches).

    Attributes:
        fallback_reason: ``None`` while compiled; else why compiling failed (the calls are
            then eager).
        compiled_signatures: the input signatures compiled so far (one compile each).
    """

    def __init__(self, function: Callable[..., Result], *, autotune: bool = True) -> None:
        self.function = function
        self.fallback_reason: str | None = None
        self.compiled_signatures: set[tuple] = set()
        try:
            self._compiled = torch.compile(
                function, dynamic=False, options={"max_autotune": autotune}
            )
        except Exception as error:  # e.g. a Python version that torch.compile does not support
            self._fall_back(error)

    def __call__(self, *args: Tensor) -> Result:
        with torch.inference_mode():
            if self.fallback_reason is None:
                try:
                    return self._call_with_free_algorithms(args)
                except Exception as error:
                    # An error of the function itself is raised again by the eager call below
                    # (and compiling stays on); if the eager call works, the compiler failed.
                    result = self.function(*args)
                    self._fall_back(error)
                    return result
            return self.function(*args)

    def _call_with_free_algorithms(self, args: tuple[Tensor, ...]) -> Result:
        """Call the compiled function with ``torch.use_deterministic_algorithms`` off.

        Training switches it on (``train.seed_everything``) and it stays on in that process;
        inductor then generates slower code (a streaming step takes almost twice as long).
        Inductor's CPU kernels give the same results run after run anyway, and dynamo would
        compile again if the setting changed between calls, so every compiled call runs with
        it off and the caller's setting is put back afterwards.
        """
        deterministic = torch.are_deterministic_algorithms_enabled()
        if not deterministic:
            return self._call_compiled(args)
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(False)
        try:
            return self._call_compiled(args)
        finally:
            torch.use_deterministic_algorithms(True, warn_only=warn_only)

    def _call_compiled(self, args: tuple[Tensor, ...]) -> Result:
        """Call the compiled function; compile under our settings at a new input signature.

        Inductor reads ``freezing`` from its global settings when it compiles, not from
        ``torch.compile``'s options, and switching it for every call costs more than a
        streaming step, so it is switched on only around the first call at each signature
        (shape, strides, dtype, device, and whether a tensor is an inference tensor: what
        dynamo specialises on, so what makes it compile again).
        Dynamo also stops compiling a function after 8 shapes (its ``recompile_limit``) and
        quietly runs the rest eagerly; here each signature compiles exactly once by design
        (a benchmark may use a dozen lengths), so the limit is lifted for those first calls.
        """
        signature = tuple(
            (arg.shape, arg.stride(), arg.dtype, arg.device, arg.is_inference()) for arg in args
        )
        if signature in self.compiled_signatures:
            return self._compiled(*args)
        dynamo_limit = torch._dynamo.config.accumulated_recompile_limit
        quiet = {"autotune_num_choices_displayed": 0, "max_autotune_report_choices_stats": False}
        with (
            torch._inductor.config.patch(freezing=True, **quiet),  # quiet: no timing tables
            torch._dynamo.config.patch(recompile_limit=dynamo_limit),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", "TypedStorage is deprecated")  # inside inductor
            result = self._compiled(*args)
        self.compiled_signatures.add(signature)
        return result

    def _fall_back(self, error: Exception) -> None:
        self.fallback_reason = f"{type(error).__name__}: {error}".splitlines()[0]
        warnings.warn(
            f"torch.compile cannot compile {self.function!r} ({self.fallback_reason}); "
            "running it eagerly",
            RuntimeWarning,
            stacklevel=3,
        )
