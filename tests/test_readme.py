"""The README's numbers are the ones the reproduction wrote."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_results_table_is_the_reproduced_comparison():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"<!-- results:ml-100k -->\n(.*?)\n<!-- /results:ml-100k -->", readme, re.S)
    assert shown, "README.md must hold the ML-100K results between its markers"
    produced = (ROOT / "results" / "ml-100k" / "comparison.md").read_text().strip()
    assert shown.group(1).strip() == produced
