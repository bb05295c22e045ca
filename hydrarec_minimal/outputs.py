"""Writing results and checkpoints: check the place before a long run, then write atomically.

- ``check_output_file(path, what)`` / ``check_output_folder(folder, what)``: called before
  training, so that a path that cannot be written is a one-line ``UserError`` at once, not a
  traceback after hours of training (which would lose the run).
- ``atomic_write(path)``: every results file and checkpoint is written through it: into a
  temporary file beside ``path``, which then replaces ``path`` in one step (``os.replace``), so
  an interrupted write never leaves a half-written file, and a file that was there before stays
  whole until the new one is complete. ``write_text`` and ``write_json`` use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from hydrarec_minimal.errors import UserError


def _why_unwritable(folder: Path) -> str | None:
    """Why no file can be created in ``folder``, or None when one can.

    Creates ``folder`` (and its parents) if missing, then creates and deletes a test file in it.
    """
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                return f"{ancestor} is a file, not a folder"
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"the folder {folder} cannot be created ({error.strerror or error})"
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".write-test-")
    except OSError as error:
        return f"the folder {folder} cannot be written to ({error.strerror or error})"
    os.close(handle)
    os.unlink(name)
    return None


def check_output_file(path: str | Path, what: str) -> Path:
    """Make sure the ``what`` (e.g. "results file") can be written to ``path``; return ``path``.

    Its folder is created if missing. ``UserError`` if ``path`` is a folder, or if its folder
    cannot be created or written to.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write the {what} to {path}: it is a folder; give a file name")
    why = _why_unwritable(path.parent)
    if why is not None:
        raise UserError(f"cannot write the {what} to {path}: {why}")
    return path


def check_output_folder(folder: str | Path, what: str) -> Path:
    """Make sure files can be written in ``folder`` (created if missing); return it.

    ``UserError`` if it is a file, or cannot be created or written to.
    """
    folder = Path(folder)
    why = _why_unwritable(folder)
    if why is not None:
        raise UserError(f"cannot write the {what} to {folder}: {why}")
    return folder


def _new_file_mode() -> int:
    """The permissions ``open`` gives a new file (0o666 less the umask): ``mkstemp`` gives 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_write(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file whose content becomes ``path``'s only when the ``with`` block succeeds.

    The folder is created if missing. If the block raises, ``path`` is left as it was and the
    temporary file is deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _new_file_mode())
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)  # only still there when something failed


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    with atomic_write(path) as file:
        file.write(text.encode("utf-8"))
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (non-ASCII kept as is) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
