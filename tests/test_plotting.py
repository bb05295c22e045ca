"""Figures land in the repository's figures/ folder, byte-for-byte reproducible."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt  # conftest.py selects the Agg backend (no display needed)
import pandas as pd
import pytest

from hydrarec_minimal.course import plotting
from hydrarec_minimal.course.plotting import KIND_COLOURS, figures_dir, loglog_plot, save_figure

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def full_mode(monkeypatch):
    """save_figure as in a full (committed) run: HYDRAREC_QUICK unset."""
    monkeypatch.delenv("HYDRAREC_QUICK", raising=False)


@pytest.fixture
def fake_repository(tmp_path, monkeypatch):
    """A folder that looks like the repository, with the current directory in notebooks/."""
    for folder in ("figures", "hydrarec_minimal", "notebooks"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    return tmp_path


def simple_figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [1, 4, 9], "o-")
    ax.set_title("n²")
    return fig


def test_figures_dir_walks_up_to_the_repository_root(fake_repository):
    assert figures_dir() == fake_repository / "figures"
    assert figures_dir(fake_repository / "notebooks") == fake_repository / "figures"


def test_figures_dir_is_found_from_this_repository():
    assert figures_dir(REPOSITORY_ROOT / "notebooks") == REPOSITORY_ROOT / "figures"


def test_figures_dir_falls_back_to_a_local_figures_folder(tmp_path, monkeypatch):
    """Colab: no repository around, so ./figures is created."""
    (tmp_path / "figures").mkdir()  # figures/ alone is not a repository
    (tmp_path / "content").mkdir()
    monkeypatch.chdir(tmp_path / "content")
    assert figures_dir() == tmp_path / "content" / "figures"
    assert (tmp_path / "content" / "figures").is_dir()


def test_save_figure_writes_a_png_into_figures(fake_repository, full_mode):
    fig = simple_figure()
    path = save_figure(fig, "01_test_figure.png")
    plt.close(fig)
    assert path == fake_repository / "figures" / "01_test_figure.png"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert save_figure(simple_figure(), "01_no_suffix").name == "01_no_suffix.png"


def test_saving_the_same_figure_twice_gives_identical_bytes(tmp_path):
    first = save_figure(simple_figure(), "same.png", directory=tmp_path / "a").read_bytes()
    second = save_figure(simple_figure(), "same.png", directory=tmp_path / "b").read_bytes()
    assert first == second
    assert b"atplotlib" not in first  # no "Software: Matplotlib version ..." chunk
    plt.close("all")


def test_quick_mode_never_overwrites_the_committed_figures(fake_repository, monkeypatch):
    monkeypatch.setenv("HYDRAREC_QUICK", "1")
    path = save_figure(simple_figure(), "01_quick.png")
    plt.close("all")
    assert path.exists()
    assert path.parent != fake_repository / "figures"
    assert not (fake_repository / "figures" / "01_quick.png").exists()


@pytest.mark.parametrize("name", ["../escape.png", "sub/dir.png", "", ".hidden.png"])
def test_save_figure_rejects_names_that_are_not_plain_file_names(tmp_path, name):
    with pytest.raises(ValueError, match="plain file names"):
        save_figure(simple_figure(), name, directory=tmp_path)
    plt.close("all")


def test_loglog_plot_draws_one_coloured_line_per_kind_and_slope_guides():
    table = pd.DataFrame(
        {
            "kind": ["softmax"] * 4 + ["hydra"] * 4,
            "n": [64, 128, 256, 512] * 2,
            "seconds": [1e-3 * (n / 64) ** 2 for n in (64, 128, 256, 512)]
            + [1e-4 * n / 64 for n in (64, 128, 256, 512)],
        }
    )
    ax = loglog_plot(table, "seconds", guides={2: "softmax", 1: "hydra"}, title="time")
    data_lines = [line for line in ax.get_lines() if line.get_label() in ("softmax", "hydra")]
    assert [line.get_label() for line in data_lines] == ["softmax", "hydra"]
    assert matplotlib.colors.same_color(data_lines[0].get_color(), KIND_COLOURS["softmax"])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    guides = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(guides) == 2
    # a guide passes through the last point of its line, with the stated slope
    x, y = guides[0].get_data()
    assert x[-1] == 512 and y[-1] == pytest.approx(table.seconds.iloc[3])
    assert (y[-1] / y[0]) == pytest.approx((x[-1] / x[0]) ** 2)
    assert x[0] == pytest.approx(max(64, 512 / plotting.GUIDE_SPAN))
    # the axes show every data point (guides never stretch or squash them)
    bottom, top = ax.get_ylim()
    assert 0 < bottom <= table.seconds.min() and top >= table.seconds.max()
    left, right = ax.get_xlim()
    assert 0 < left <= 64 and right >= 512
    plt.close("all")
