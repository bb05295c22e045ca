"""Results files: check the place before a long run, then write atomically.

``check_output_file`` / ``check_output_folder`` run before training, so that a path that cannot
be written is a one-line ``UserError`` at once, not a traceback after hours of training.
``write_text`` and ``write_json`` write through ``checkpoint.atomic_write``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hydrarec_minimal.checkpoint import atomic_write
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


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    with atomic_write(path) as file:
        file.write(text.encode("utf-8"))
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (non-ASCII kept as is) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
