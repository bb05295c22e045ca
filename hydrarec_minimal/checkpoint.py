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

FORMAT_VERSION = 1


def save_checkpoint(
    model: SequentialRecommender, path: str | Path, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (config + weights, moved to the CPU) and ``extra`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    payload = {
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": state,
        "extra": extra or {},
    }
    torch.save(payload, path)
    return path


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[SequentialRecommender, dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns ``(model in eval mode, extra)``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path} is not a hydrarec_minimal checkpoint of format {FORMAT_VERSION}")
    model = SequentialRecommender(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload["extra"]
