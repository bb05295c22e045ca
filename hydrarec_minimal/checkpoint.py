"""Save a trained model with everything needed to rebuild it, and load it back.

A checkpoint is one ``torch.save`` file: ``format_version``, ``model_config`` (a dict of
``ModelConfig``), ``state_dict`` and free-form ``extra`` (settings, dataset, metrics).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from hydrarec_minimal.errors import UserError
from hydrarec_minimal.model import ModelConfig, SequentialRecommender

FORMAT_VERSION = 1
KEYS = frozenset({"format_version", "model_config", "state_dict", "extra"})


@contextmanager
def atomic_write(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` (``os.replace``) only when the block succeeds.

    The folder is created if missing; if the block raises, ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)  # mkstemp gives 0o600; give what open() would
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)  # only still there when something failed


def save_checkpoint(
    model: SequentialRecommender, path: str | Path, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (config, weights on the CPU) and ``extra`` to ``path``, atomically."""
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    payload = {
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": state,
        "extra": extra or {},
    }
    with atomic_write(path) as file:
        torch.save(payload, file)
    return Path(path)


def _not_a_checkpoint(path: Path, why: str) -> UserError:
    return UserError(
        f"{path} is not a hydrarec_minimal checkpoint of format {FORMAT_VERSION}, or it is "
        f"damaged ({why}): save the model again (save_checkpoint, or train --checkpoint)"
    )


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[SequentialRecommender, dict[str, Any]]:
    """Rebuild the model saved at ``path``: ``(model in eval mode, extra)``.

    Loaded with ``weights_only=True``. ``UserError`` when there is no file or it is not a
    checkpoint written by ``save_checkpoint`` (another file, a damaged or truncated one).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise UserError(f"cannot read the checkpoint {path}: permission denied") from None
    except Exception:  # any error on a damaged file; not chained: torch advises unsafe loading
        raise _not_a_checkpoint(path, "it cannot be read as a torch file") from None
    if payload is None:
        raise _not_a_checkpoint(path, "it cannot be read as a torch file")
    if not isinstance(payload, dict):
        raise _not_a_checkpoint(path, f"it holds a {type(payload).__name__}, not a dict")
    if missing := KEYS - payload.keys():
        raise _not_a_checkpoint(path, f"it has no {', '.join(sorted(missing))}")
    if payload["format_version"] != FORMAT_VERSION:
        raise _not_a_checkpoint(path, f"its format is {payload['format_version']!r}")
    try:
        model = SequentialRecommender(ModelConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError):
        raise _not_a_checkpoint(path, "its model config and weights do not fit") from None
    return model.to(device).eval(), payload["extra"]
