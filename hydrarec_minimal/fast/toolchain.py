"""Import the C++ toolchain helpers that inductor and ``torch.utils.benchmark`` use, quietly."""

from __future__ import annotations

import contextlib
import functools
import io
import logging


@functools.cache
def import_compiler_quietly() -> None:
    """Import the C++ build helpers inductor uses, hiding a CUDA build's notice ("No CUDA
    runtime is found") on machines without a GPU: printed by some torch releases, logged by
    others."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            import torch.utils.cpp_extension  # noqa: F401
    finally:
        logger.setLevel(level)
