"""Results files and checkpoints: a place that cannot be written is found before any training,
and every write is atomic (all or nothing, no temporary file left behind). Real paths only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from hydrarec_minimal.checkpoint import load_checkpoint, save_checkpoint
from hydrarec_minimal.course.outputs import (
    atomic_write,
    check_output_file,
    check_output_folder,
    write_json,
    write_text,
)
from hydrarec_minimal.errors import UserError
from hydrarec_minimal.model import ModelConfig, SequentialRecommender


def test_a_file_under_a_new_folder_is_fine_and_the_folder_is_made(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "results.json"
    assert check_output_file(path, "results file") == path
    assert path.parent.is_dir() and list(path.parent.iterdir()) == []  # the test file is gone


def test_a_path_under_a_regular_file_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    for path in (tmp_path / "notes.txt" / "results.json", tmp_path / "notes.txt" / "a" / "r.json"):
        with pytest.raises(UserError) as caught:
            check_output_file(path, "results file")
        assert str(caught.value) == (
            f"cannot write the results file to {path}: {tmp_path / 'notes.txt'} is a file, "
            f"not a folder"
        )
    with pytest.raises(UserError, match="notes.txt is a file, not a folder"):
        check_output_folder(tmp_path / "notes.txt", "results files")


def test_an_existing_folder_is_not_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"to {tmp_path}: it is a folder; give a file name"):
        check_output_file(tmp_path, "checkpoint")


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root writes into read-only folders: the folder-under-a-file tests cover it",
)
def test_a_read_only_folder_cannot_be_written(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(UserError, match=f"the folder {folder} cannot be written to"):
            check_output_file(folder / "results.json", "results file")
        with pytest.raises(UserError, match=f"the folder {folder / 'new'} cannot be created"):
            check_output_file(folder / "new" / "results.json", "results file")
    finally:
        folder.chmod(stat.S_IRWXU)


def test_atomic_writes_replace_the_content_and_leave_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("old content, longer than the new one\n")
    write_json(path, {"NDCG@10": 0.1, "model": "HydraRec (causal) – Hydra"})
    assert path.read_text(encoding="utf-8") == (
        '{\n  "NDCG@10": 0.1,\n  "model": "HydraRec (causal) – Hydra"\n}\n'
    )
    write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, "the mode of a plain file"


def test_an_interrupted_write_keeps_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("the previous run\n")
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as file:
        file.write(b"the first half of a new fi")
        raise KeyboardInterrupt
    assert path.read_text() == "the previous run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "new.json") as file:
        raise KeyboardInterrupt
    assert not (tmp_path / "new.json").exists()


def test_checkpoints_are_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "model.pt"
    path.parent.mkdir()
    path.write_bytes(b"an older, different file")
    model = SequentialRecommender(ModelConfig(num_items=10, max_len=5, dim=8, layers=1))
    save_checkpoint(model, path, extra={"note": "new"})
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]
    loaded, extra = load_checkpoint(path)
    assert extra == {"note": "new"}
    pairs = zip(loaded.parameters(), model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
