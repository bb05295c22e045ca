"""Loading a file that is not a checkpoint (text, random bytes, a truncated checkpoint, another
torch file) is one clear ``UserError`` that never advises ``weights_only=False``."""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import pytest
import torch

from hydrarec_minimal.checkpoint import load_checkpoint, save_checkpoint
from hydrarec_minimal.errors import UserError
from hydrarec_minimal.model import ModelConfig, SequentialRecommender

CONFIG = ModelConfig(num_items=20, max_len=8, dim=16, layers=1)


def checkpoint_payload(**changes: object) -> dict:
    """What ``save_checkpoint`` writes for a small model, with ``changes``."""
    model = SequentialRecommender(CONFIG)
    payload = {
        "format_version": 1,
        "model_config": CONFIG.to_dict(),
        "state_dict": model.state_dict(),
        "extra": {},
    }
    return payload | changes


def write_not_a_checkpoint(kind: str, path: Path) -> None:
    """Write a file of ``kind`` at ``path``: each is something a user may pass by mistake."""
    if kind == "text":
        path.write_text("epoch 1: loss 7.31\nepoch 2: loss 6.90\n")
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind.startswith("truncated"):
        data = save_checkpoint(SequentialRecommender(CONFIG), path).read_bytes()
        path.write_bytes(data[:100] if kind == "truncated early" else data[: len(data) // 2])
    elif kind == "a tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "another dict":
        torch.save({"model": {"weight": torch.zeros(3)}}, path)
    elif kind == "another format":
        torch.save(checkpoint_payload(format_version=99), path)
    elif kind == "wrong weights":
        torch.save(checkpoint_payload(model_config=CONFIG.to_dict() | {"dim": 32}), path)
    elif kind == "a pickled object":  # weights_only refuses it (it could run code)
        torch.save(checkpoint_payload(extra={"path": Path("x")}), path)
    else:
        raise ValueError(kind)


KINDS = [
    "text",
    "random bytes",
    "empty",
    "truncated early",
    "truncated half",
    "a tensor",
    "another dict",
    "another format",
    "wrong weights",
    "a pickled object",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    write_not_a_checkpoint(kind, path)
    with pytest.raises(UserError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path} is not a hydrarec_minimal checkpoint of format 1, or it")
    assert "\n" not in message
    shown = "".join(traceback.format_exception(caught.value))  # torch's error is not chained
    assert "weights_only" not in shown


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("truncated half", "it cannot be read as a torch file"),
        ("a tensor", "it holds a Tensor, not a dict"),
        ("another dict", "it has no extra, format_version, model_config, state_dict"),
        ("another format", "its format is 99"),
        ("wrong weights", "its model config and weights do not fit"),
    ],
)
def test_the_error_says_why(kind: str, why: str, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    write_not_a_checkpoint(kind, path)
    with pytest.raises(UserError, match=f"or it is damaged \\({why}\\): save the model again"):
        load_checkpoint(path)


def test_a_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing.pt")
