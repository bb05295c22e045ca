"""README.md and RESULTS.md show the numbers the reproduction wrote; the notebooks show the same.

The README holds one results table, the main comparison (``results/ml-100k``); RESULTS.md
holds every other committed comparison; benchmarks/README.md holds the speed measurements.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from hydrarec_minimal.course import RELEASE_TAG, REPOSITORY
from hydrarec_minimal.course.reproduce import (
    best_valid_metrics,
    compare_runs,
    load_runs,
    markdown_differences,
    run_file,
    runs_of,
    write_comparison,
)
from hydrarec_minimal.model import DIRECTIONS
from hydrarec_minimal.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"

#: The documents a reader is sent to, and the most words the README may have.
DOCUMENTS = ("README.md", "RESULTS.md", "benchmarks/README.md")
README_MAX_WORDS = 2000

#: The one table the README shows; every other comparison is in RESULTS.md.
HEADLINE = "ml-100k"


def shown_table(document: str, name: str) -> str:
    text = (ROOT / document).read_text()
    shown = re.search(rf"<!-- results:{name} -->\n(.*?)\n<!-- /results:{name} -->", text, re.S)
    assert shown, f"{document} must hold the {name} results between its markers"
    return shown.group(1).strip()


def table_names(document: str) -> list[str]:
    return re.findall(r"<!-- results:([\w.-]+) -->", (ROOT / document).read_text())


def readme_table(name: str) -> str:
    return shown_table("README.md", name)


def results_table(name: str) -> str:
    return shown_table("RESULTS.md", name)


#: Every committed comparison (a folder of ``results`` with a ``comparison.md``).
COMPARISONS = sorted(p.parent.name for p in RESULTS.glob("*/comparison.md"))


def test_readme_headline_table_is_the_reproduced_main_comparison():
    produced = (RESULTS / HEADLINE / "comparison.md").read_text().strip()
    assert readme_table(HEADLINE) == produced


def test_readme_shows_only_the_headline_table():
    assert table_names("README.md") == [HEADLINE]


def test_results_md_shows_every_other_committed_comparison_once():
    others = [name for name in COMPARISONS if name != HEADLINE]
    assert sorted(table_names("RESULTS.md")) == others


@pytest.mark.parametrize("name", [name for name in COMPARISONS if name != HEADLINE])
def test_results_md_table_is_the_reproduced_comparison(name):
    produced = (RESULTS / name / "comparison.md").read_text().strip()
    assert results_table(name) == produced


def test_readme_has_at_most_2000_words():
    """Counted as ``wc -w`` counts them, code blocks included."""
    words = len((ROOT / "README.md").read_text().split())
    assert words <= README_MAX_WORDS, f"README.md has {words} words (at most {README_MAX_WORDS})"


def test_readme_links_to_the_results_and_the_benchmarks():
    readme = (ROOT / "README.md").read_text()
    for target in ("RESULTS.md", "benchmarks/README.md"):
        assert f"]({target})" in readme, f"README.md must link to {target}"
        assert (ROOT / target).is_file(), f"{target} is missing"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_relative_links_point_at_files_in_the_repository(document):
    path = ROOT / document
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or a heading of the same document
        local = target.split("#")[0].split("?")[0]
        assert (path.parent / local).exists(), f"{document} links to a missing {target}"


@pytest.mark.parametrize("document", (*DOCUMENTS, "CHANGELOG.md"))
def test_documents_speak_of_the_project_alone(document):
    """No development notes: internal documents, machine scripts, issue numbers, sessions."""
    text = (ROOT / document).read_text()
    found = re.findall(r"DESIGN\.md|\.devrun|gpu_check|\bsessions?\b|#[0-9]+\b|issue", text)
    assert not found, f"{document} mentions {sorted(set(found))}"


def test_the_committed_comparisons_are_the_known_experiments():
    assert COMPARISONS == [
        "ml-100k", "ml-100k-50-epochs", "ml-100k-ce-chunked", "ml-100k-fused-attention",
        "ml-100k-last-item-samples", "ml-100k-linear-attention", "ml-100k-previous-item-causal",
        "ml-100k-previous-item-converged", "ml-100k-previous-item-random-masks-only",
    ]  # fmt: skip


#: The folders kept from the earlier 50-epoch budget (batches of 128), to say what moved.
OLD_BUDGET = ("ml-100k-50-epochs", "ml-100k-bidirectional-screening-50-epochs")


def test_every_other_committed_run_trained_at_the_converged_budget():
    """Tables, searches, screening runs and speed-up checks: ``train``'s epoch cap and patience."""
    default = TrainConfig()
    paths = [
        path
        for path in RESULTS.glob("**/runs/*.json")
        if path.relative_to(RESULTS).parts[0] not in OLD_BUDGET
    ]
    assert len(paths) > 100, len(paths)
    for path in paths:
        train = json.loads(path.read_text())["config"]["train"]
        budget = (train["epochs"], train["patience"])
        assert budget == (default.epochs, default.patience), f"{path}: {budget}"


#: HydraRec's two linear-attention rivals, run in their own folder with the same search.
LINEAR = "ml-100k-linear-attention"


def test_results_md_shows_hydrarec_and_softmax_against_each_linear_kernel():
    """HydraRec minus linear attention and LinRec, then each of them minus the softmax model
    (HydraRec and softmax: the main comparison's runs), both directions, both protocols."""
    main, rivals = load_runs(RESULTS / HEADLINE), load_runs(RESULTS / LINEAR)
    pairs = [(main, "hydra", rivals, kernel) for kernel in ("linear", "linrec")] + [
        (rivals, kernel, main, "softmax") for kernel in ("linear", "linrec")
    ]
    frames = [
        compare_runs(runs_of(runs_a, a, direction), runs_of(runs_b, b, direction))
        for direction in DIRECTIONS
        for runs_a, a, runs_b, b in pairs
    ]
    expected = markdown_differences(pd.concat(frames, ignore_index=True))
    assert len(expected.splitlines()) == 2 + 2 * 8  # header + both protocols of 8 pairs
    text = (ROOT / "RESULTS.md").read_text()
    shown = re.search(rf"<!-- differences:{LINEAR} -->\n(.*?)\n<!-- /differences:{LINEAR} -->",
                      text, re.S)  # fmt: skip
    assert shown and shown.group(1).strip() == expected


@pytest.mark.parametrize("name", COMPARISONS)
def test_committed_comparison_is_rebuilt_exactly_from_the_committed_run_files(name, tmp_path):
    """The run files are in the repository, and the table is what they give."""
    runs = sorted((RESULTS / name / "runs").glob("*.json"))
    assert runs, f"results/{name}/runs holds no results files"
    shutil.copytree(RESULTS / name / "runs", tmp_path / "runs")
    assert write_comparison(tmp_path) == (RESULTS / name / "comparison.md").read_text()
    for path in runs:
        run = json.loads(path.read_text())
        assert not run["quick_mode"], f"{path.name} is a quick-mode run"
        assert not run["data"].get("is_synthetic"), f"{path.name} is not MovieLens"


def notebook_text(name: str) -> str:
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


NOTEBOOK_06 = "06_train_bidirectional_hydrarec.ipynb"


#: The converged screen: a change to both bidirectional models on top of the previous item.
SCREEN = "ml-100k-bidirectional-screening"
SCREEN_BASE = "ml-100k-previous-item-random-masks-only"


def test_screen_readme_table_is_built_from_its_seed_0_runs():
    """Each row: validation (at the kept epoch) and test NDCG@10, ratio and epochs, as run."""
    text = (RESULTS / SCREEN / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith(("| none", "| `--"))]
    assert len(rows) == 6, rows
    for row in rows:
        option = re.match(r"\| `--([\w-]+) ?([\w.]*)`", row)
        folder = f"{SCREEN}/{option[1]}-{option[2]}".rstrip("-") if option else SCREEN_BASE
        runs = {
            attention: json.loads(
                run_file(RESULTS / folder, attention, "bidirectional", 0).read_text()
            )
            for attention in ("hydra", "softmax")
        }
        valid = {attention: best_valid_metrics(run)["NDCG@10"] for attention, run in runs.items()}
        cells = [
            f"{valid['hydra']:.4f}",
            f"{valid['softmax']:.4f}",
            f"{valid['hydra'] / valid['softmax']:.2f}",
            *(f"{runs[a]['metrics']['test']['NDCG@10']:.4f}" for a in ("hydra", "softmax")),
            *(str(runs[a]["epochs_run"]) for a in ("hydra", "softmax")),
        ]
        assert row.endswith("| " + " | ".join(cells) + " |"), (row, cells)


@pytest.mark.parametrize("name", ["ml-100k", "ml-100k-previous-item-converged"])
def test_notebook_06_shows_the_converged_bidirectional_rows_and_paired_differences(name):
    """The rows of a converged comparison that concern the bidirectional models, as written."""
    produced = (RESULTS / name / "comparison.md").read_text()
    rows = [
        line
        for line in produced.splitlines()
        if line.startswith(("| BERT4Rec", "| HydraRec (bidirectional)", "| Popularity"))
    ]
    assert len(rows) >= 3, rows  # both models and the floor; and their paired differences
    shown = notebook_text(NOTEBOOK_06)
    for row in rows:
        assert row in shown, f"notebook 06 does not show {name}'s row {row!r}"


def test_notebook_05_shows_the_causal_rows_of_the_main_comparison_and_their_difference():
    # the README's headline table: SASRec, causal HydraRec, the floor, and the two paired
    # differences HydraRec - SASRec (history excluded, history kept)
    produced = (RESULTS / HEADLINE / "comparison.md").read_text().splitlines()
    wanted = [
        line
        for line in produced
        if line.startswith(("| SASRec |", "| HydraRec (causal) |", "| Popularity (floor) |"))
    ]
    assert len(wanted) == 5, wanted
    shown = notebook_text("05_train_causal_hydrarec.ipynb")
    for row in wanted:
        assert row in shown, f"notebook 05 does not show the main comparison's row {row!r}"


@pytest.mark.parametrize(
    "name",
    [
        "ml-100k",
        "ml-100k-last-item-samples",
        "ml-100k-previous-item-random-masks-only",
        "ml-100k-previous-item-converged",
    ],
)
def test_notebook_06_screening_table_shows_the_test_ndcg_of_each_recipe(name):
    """One summary table of the screening: each recipe's row holds both models' test NDCG@10."""
    table = pd.read_csv(RESULTS / name / "comparison.csv").set_index("model")
    means = [
        f"{table.loc[model, 'NDCG@10 mean']:.4f}"
        for model in ("HydraRec (bidirectional)", "BERT4Rec")
    ]
    rows = [line for line in notebook_text(NOTEBOOK_06).splitlines() if line.startswith("| ")]
    assert any(f"| {means[0]} | {means[1]} |" in row for row in rows), (name, means)


def test_readme_names_the_release_tag_and_repository_the_notebooks_install_from():
    readme = (ROOT / "README.md").read_text()
    assert f"release tag `{RELEASE_TAG}`" in readme
    opens = r"(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/([\w.-]+/[\w.-]+?)/"
    addresses = set(re.findall(opens, readme))
    assert addresses == {REPOSITORY}, addresses


def test_course_map_has_a_row_per_notebook_with_run_times_and_a_colab_badge():
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rows = [line for line in readme.splitlines() if f"](notebooks/{path.name})" in line]
        assert len(rows) == 1, f"the course map needs one row for {path.name}"
        cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
        full, quick = cells[2], cells[3]
        assert re.fullmatch(r"(\d+ min )?\d+ s", full) and re.fullmatch(r"\d+ s", quick), cells
        badge = f"colab.research.google.com/github/{REPOSITORY}/blob/{RELEASE_TAG}/notebooks/"
        badge += path.name
        assert badge in rows[0]


SEARCHES = sorted(path.parent.name for path in RESULTS.glob("*/search.md"))


@pytest.mark.parametrize("search", SEARCHES)
def test_results_md_shows_the_search_that_chose_each_models_setting(search):
    """Each search table in RESULTS.md is the one ``search`` wrote, rebuilt from its run files."""
    from hydrarec_minimal.course.search import markdown_search, search_table

    written = (RESULTS / search / "search.md").read_text()
    assert markdown_search(search_table(RESULTS / search)) in written
    marker = re.escape(search)
    shown = re.search(rf"<!-- search:{marker} -->\n(.*?)\n<!-- /search:{marker} -->",
                      (ROOT / "RESULTS.md").read_text(), re.S)  # fmt: skip
    assert shown and shown.group(1).strip() == written.strip()
