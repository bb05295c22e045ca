"""How long a notebook takes to study: the estimate each notebook states at its top.

Prose is read at ``WORDS_PER_MINUTE``; each code cell takes ``MINUTES_PER_CODE_CELL`` to read
and run; each exercise (a code cell ``check_<name>(<name>)``) ``MINUTES_PER_EXERCISE``
more. The total is rounded up to a multiple of 5 minutes. An estimate, not a measurement of
anyone's time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

WORDS_PER_MINUTE = 200
MINUTES_PER_CODE_CELL = 0.5
MINUTES_PER_EXERCISE = 5

_CHECKER_CALL = re.compile(r"^check_(\w+)\(\1\)\s*$", re.MULTILINE)  # check_name(name)


@dataclass(frozen=True)
class StudyTime:
    """``words`` of markdown, ``code_cells``, ``exercises`` and the estimated ``minutes``."""

    words: int
    code_cells: int
    exercises: int
    minutes: int


def study_time(notebook: Mapping) -> StudyTime:
    """The estimate for a notebook as read by ``json.load`` or ``nbformat.read``."""
    sources = [(cell["cell_type"], "".join(cell["source"])) for cell in notebook["cells"]]
    words = sum(len(text.split()) for kind, text in sources if kind == "markdown")
    code_cells = sum(kind == "code" for kind, _ in sources)
    exercises = sum(bool(_CHECKER_CALL.search(text)) for kind, text in sources if kind == "code")
    raw = (
        words / WORDS_PER_MINUTE
        + code_cells * MINUTES_PER_CODE_CELL
        + exercises * MINUTES_PER_EXERCISE
    )
    return StudyTime(words, code_cells, exercises, 5 * math.ceil(raw / 5))


def describe(estimate: StudyTime) -> str:
    """The sentence a notebook states at its top."""
    return (
        f"**Time to study:** about {estimate.minutes} minutes, estimated as {estimate.words:,} "
        f"words of prose at {WORDS_PER_MINUTE} a minute, half a minute for each of "
        f"{estimate.code_cells} code cells and {MINUTES_PER_EXERCISE} minutes for each of "
        f"{estimate.exercises} exercises."
    )
