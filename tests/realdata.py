"""Where the real MovieLens copy is, and what a test does when it is missing.

Tests that need MovieLens skip with a reason naming HYDRAREC_DATA, except under
HYDRAREC_STRICT_DATA=1 (CI), where a missing copy fails them instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hydrarec_minimal.settings import strict_data

# Read once at start-up: some tests clear these variables for isolation.
REAL_DATA = os.environ.get("HYDRAREC_DATA", "")
STRICT = strict_data()


def require_movielens(name: str, member: str) -> str:
    """The HYDRAREC_DATA folder holding ``name``; skip the test (fail it when strict) if none.

    Args:
        name: dataset folder or zip stem, e.g. "ml-100k".
        member: a file that must be there in the extracted folder, e.g. "u.data".
    """
    folder = Path(REAL_DATA) if REAL_DATA else None
    if folder is None or not (
        (folder / name / member).is_file() or (folder / f"{name}.zip").is_file()
    ):
        reason = (
            f"needs MovieLens {name} ({member}): set HYDRAREC_DATA to a folder holding {name}/ "
            f"or {name}.zip (HYDRAREC_DATA is {REAL_DATA or 'not set'})"
        )
        if STRICT:
            pytest.fail(f"HYDRAREC_STRICT_DATA=1 but this test {reason}")
        pytest.skip(reason)
    return REAL_DATA
