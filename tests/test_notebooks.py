"""The committed notebooks are complete, executed, runnable by nbval, and follow the course's
conventions. Static checks only (nothing is executed here): nbval itself runs every notebook,
because ``pyproject.toml`` puts ``notebooks`` in pytest's testpaths with ``--nbval-lax``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hydrarec_minimal.course import RELEASE_TAG, REPOSITORY
from hydrarec_minimal.course.study_time import study_time

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
FIGURES_DIR = ROOT / "figures"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
NAME_PATTERN = re.compile(r"^\d\d_[a-z0-9]+(_[a-z0-9]+)+\.ipynb$")  # NN_verb_topic.ipynb
FIGURE_REFERENCE = re.compile(r"\b(\d\d_[A-Za-z0-9_-]+\.png)\b")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def markdown(notebook: nbformat.NotebookNode) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"


# ----------------------------------------------------------------------------------------------
# nbval will run every notebook
# ----------------------------------------------------------------------------------------------


def test_pytest_configuration_runs_the_notebooks_folder_through_nbval():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = settings["ini_options"]
    assert "notebooks" in options["testpaths"]
    assert re.search(r"(^|\s)--nbval(-lax)?(\s|$)", options["addopts"]), options["addopts"]
    for setting in ("norecursedirs", "python_files"):  # neither may exclude notebooks/
        assert "notebooks" not in str(options.get(setting, "")), f"{setting} excludes notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_file_name_is_nn_verb_topic(path):
    assert NAME_PATTERN.match(path.name), f"{path.name} is not named NN_verb_topic.ipynb"


def test_nbval_collects_every_notebook():
    """Ask pytest itself (collection only: no kernel starts, nothing runs)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "notebooks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    collected = result.stdout
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}::Cell 0" in collected, (
            f"pytest does not collect {path.name}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )


# ----------------------------------------------------------------------------------------------
# Committed with the outputs of a real, complete, full-mode run
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_code_cell_was_executed_in_order_without_errors(path):
    code_cells = [cell for cell in read(path).cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code_cells]
    unexecuted = [index for index, count in enumerate(counts) if count is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were never executed"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not one top-to-bottom run"
    )
    for index, cell in enumerate(code_cells):
        for output in cell.outputs:
            assert output.output_type != "error", (
                f"{path.name}, code cell {index}: {output.ename}: {output.evalue}"
            )
            text = output.get("text", "") if output.output_type == "stream" else ""
            assert "Traceback (most recent call last)" not in text, f"{path.name}, cell {index}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_outputs_come_from_a_full_run(path):
    """Notebooks print "quick mode: ..." first; quick-mode (CI) outputs must not be committed."""
    for cell in read(path).cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                assert "quick mode: True" not in output.text, f"{path.name} ran in quick mode"


# ----------------------------------------------------------------------------------------------
# Conventions: title, goals, badges, recap, next steps, kernel, Colab install, figures
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_opens_with_title_badges_and_goals(path):
    notebook = read(path)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "title first"
    stem = path.stem
    # the notebooks of this release (tests/test_colab.py: the tag is "v" + the version)
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{RELEASE_TAG}/notebooks/"
    colab += f"{stem}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{REPOSITORY}/{RELEASE_TAG}?labpath=notebooks%2F"
    binder += f"{stem}.ipynb"
    assert colab in first.source, f"{path.name}: Colab badge must link to {colab}"
    assert binder in first.source, f"{path.name}: Binder badge must link to {binder}"
    assert re.search(r"^##+ What you will know at the end", first.source, re.MULTILINE), (
        f"{path.name}: the first cell needs a 'What you will know at the end' section"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_ends_with_recap_and_what_comes_next(path):
    text = "\n".join(markdown(read(path)))
    assert re.search(r"^##+ Recap", text, re.MULTILINE), f"{path.name}: no '## Recap'"
    assert re.search(r"^##+ What comes next", text, re.MULTILINE), (
        f"{path.name}: no '## What comes next'"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_uses_the_python3_kernel_and_installs_only_on_colab(path):
    notebook = read(path)
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.kernelspec.display_name == "Python 3"
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert 'if "google.colab" in sys.modules:' in first_code.source
    source = first_code.source
    # pip's git URL, or a clone for the notebooks that read results files (tests/test_colab.py
    # runs these cells)
    pinned = f"https://github.com/{REPOSITORY}" in source and (
        f"@{RELEASE_TAG}" in source or f"--branch {RELEASE_TAG} " in source
    )
    assert pinned, f"{path.name}: on Colab install from the release tag {RELEASE_TAG}, not a branch"
    installs = [line for line in first_code.source.splitlines() if "pip install" in line]
    assert installs and not any("torch" in line for line in installs), "never reinstall torch"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_figure_a_notebook_names_is_in_figures(path):
    notebook = read(path)
    text = "\n".join(
        [cell.source for cell in notebook.cells]
        + [
            output.get("text", "")
            for cell in notebook.cells
            for output in cell.get("outputs", [])
            if output.output_type == "stream"
        ]
    )
    missing = sorted(
        name for name in set(FIGURE_REFERENCE.findall(text)) if not (FIGURES_DIR / name).is_file()
    )
    assert not missing, f"{path.name} names figures missing from figures/: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_hidden_solution_cells_are_code_that_runs(path):
    """Collapsed cells (exercise solutions) are still code cells, so nbval executes them."""
    for cell in read(path).cells:
        if cell.metadata.get("jupyter", {}).get("source_hidden"):
            assert cell.cell_type == "code" and cell.execution_count is not None


# ----------------------------------------------------------------------------------------------
# Every notebook: short cells, exercises with checkers, a stated study time
# ----------------------------------------------------------------------------------------------

#: The notebooks held to these rules.
RULED = NOTEBOOKS
MAX_MARKDOWN_WORDS = 250
CHECKER_CALL = re.compile(r"^check_(\w+)\(\1\)\s*$", re.MULTILINE)


@pytest.mark.parametrize("path", RULED, ids=lambda path: path.name)
def test_no_markdown_cell_is_longer_than_250_words(path):
    for index, text in enumerate(markdown(read(path))):
        words = len(text.split())
        assert words <= MAX_MARKDOWN_WORDS, f"{path.name}, markdown cell {index}: {words} words"


@pytest.mark.parametrize("path", RULED, ids=lambda path: path.name)
def test_exercises_are_stubs_followed_by_a_checker_that_says_not_attempted(path):
    """The committed run holds the stubs, so each checker printed its "not attempted yet"."""
    notebook = read(path)
    assert "## Exercises" in "\n".join(markdown(notebook)), f"{path.name}: no '## Exercises'"
    cells = notebook.cells
    checked = []
    for index, cell in enumerate(cells):
        match = CHECKER_CALL.search(cell.source) if cell.cell_type == "code" else None
        if not match:
            continue
        name = match.group(1)
        stub = cells[index - 1]
        assert stub.cell_type == "code" and f"def {name}(" in stub.source, (
            f"{path.name}: check_{name} must follow the cell defining {name}"
        )
        assert "raise NotImplementedError" in stub.source, f"{path.name}: {name} is not a stub"
        assert "# NBVAL_CHECK_OUTPUT" in cell.source, f"{path.name}: nbval must check check_{name}"
        printed = "".join(output.get("text", "") for output in cell.outputs)
        assert f"○ {name}: not attempted yet" in printed, (
            f"{path.name}: check_{name} printed {printed!r}"
        )
        checked.append(name)
    assert 2 <= len(checked) <= 3, f"{path.name}: {len(checked)} exercises with a checker"


def stated_minutes(notebook: nbformat.NotebookNode) -> int:
    found = re.search(r"\*\*Time to study:\*\* about (\d+) minutes", notebook.cells[0].source)
    assert found, "the first cell must state '**Time to study:** about N minutes'"
    return int(found.group(1))


@pytest.mark.parametrize("path", RULED, ids=lambda path: path.name)
def test_the_stated_study_time_is_the_estimate_and_the_readme_says_the_same(path):
    notebook = read(path)
    assert stated_minutes(notebook) == study_time(notebook).minutes, path.name
    row = next(
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if f"]({path.relative_to(ROOT)})" in line
    )
    assert f"| {stated_minutes(notebook)} min |" in row, f"README's course map row for {path.name}"
