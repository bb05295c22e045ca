"""Save a trained model with everything needed to rebuild it, and load it back.

A checkpoint is one ``torch.save`` file holding ``model_config`` (a plain dict of
``ModelConfig``), ``state_dict`` and free-form ``extra`` information (training settings,
dataset name, metrics). Loading rebuilds the model from the config, so the scores of a loaded
model are identical to those of the saved one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hydrarec_minimal.errors import UserError
from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.outputs import atomic_write

FORMAT_VERSION = 1


def save_checkpoint(
    model: SequentialRecommender, path: str | Path, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (config + weights, moved to the CPU) and ``extra`` to ``path``.

    Atomically (``outputs.atomic_write``): an interrupted save leaves no half-written file.
    """
    path = Path(path)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    payload = {
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": state,
        "extra": extra or {},
    }
    with atomic_write(path) as file:
        torch.save(payload, file)
    return path


#: What every checkpoint holds (``save_checkpoint`` writes these and nothing else).
KEYS = frozenset({"format_version", "model_config", "state_dict", "extra"})


def _not_a_checkpoint(path: Path, why: str) -> UserError:
    return UserError(
        f"{path} is not a hydrarec_minimal checkpoint of format {FORMAT_VERSION}, or it is "
        f"damaged ({why}): save the model again (save_checkpoint, or train --checkpoint)"
    )


def _read_payload(path: Path) -> dict[str, Any]:
    """The dict ``save_checkpoint`` wrote, loaded on the CPU with ``weights_only=True`` (safe
    for files from anywhere); ``UserError`` for any other file, damaged or not."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise UserError(f"cannot read the checkpoint {path}: permission denied") from None
    except Exception:  # torch.load raises all sorts of errors on a damaged file
        # Not chained: torch's message advises weights_only=False, unsafe for such a file.
        payload = None
    if payload is None:
        raise _not_a_checkpoint(path, "it cannot be read as a torch file")
    if not isinstance(payload, dict):
        raise _not_a_checkpoint(path, f"it holds a {type(payload).__name__}, not a dict")
    missing = KEYS - payload.keys()
    if missing:
        raise _not_a_checkpoint(path, f"it has no {', '.join(sorted(missing))}")
    if payload["format_version"] != FORMAT_VERSION:
        raise _not_a_checkpoint(path, f"its format is {payload['format_version']!r}")
    return payload


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[SequentialRecommender, dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns ``(model in eval mode, extra)``.

    ``UserError`` when there is no file at ``path``, or it is not a checkpoint written by
    ``save_checkpoint`` (another file, a damaged or truncated one); the file is only ever
    loaded with ``weights_only=True``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    payload = _read_payload(path)
    try:
        model = SequentialRecommender(ModelConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError):
        raise _not_a_checkpoint(path, "its model config and weights do not fit") from None
    return model.to(device).eval(), payload["extra"]
