"""The test command also lints: ruff (configured in pyproject.toml) over code, tests, notebooks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*arguments: str) -> subprocess.CompletedProcess:
    executable = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(executable).exists() and shutil.which(executable) is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    return subprocess.run(
        [executable, *arguments, "."], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_finds_no_problems_in_code_tests_and_notebooks():
    result = ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_and_notebooks_are_formatted():
    result = ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
