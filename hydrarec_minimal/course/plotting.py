"""Figures for the notebooks: one colour per attention kernel, log-log plots, reproducible PNGs.

- ``save_figure(fig, "01_time_vs_n.png")`` writes the PNG into the repository's ``figures/``
  folder, found from the current directory (notebooks run in ``notebooks/``), or into
  ``./figures`` where there is no repository (Colab). The bytes depend only on the figure:
  fixed dpi, no software version or date in the file, so re-running a notebook that draws the
  same thing leaves ``git status`` clean.
- ``loglog_plot(table, "seconds")`` draws one line per kernel from a
  ``hydrarec_minimal.course.benchmark.sweep_lengths`` table, with dashed n^p guide lines: a cost
  that grows like n^p is a straight line of slope p on log-log axes.
- ``KIND_COLOURS``: the same colour for the same kernel in every figure of the course.

Quick mode (``HYDRAREC_QUICK=1``, what pytest runs) draws every figure but saves it to a
temporary folder, so running the tests never replaces the committed full-run figures.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hydrarec_minimal.settings import quick_mode

#: Resolution of every saved figure (dots per inch).
DPI = 120

#: PNG metadata matplotlib would otherwise write ("Software: Matplotlib version…"): a figure
#: saved by another matplotlib version would differ in bytes without differing in pixels.
PNG_METADATA: dict[str, str | None] = {"Software": None}

#: One colour per kernel, everywhere in the course.
KIND_COLOURS: dict[str, str] = {
    "softmax": "tab:red",
    "softmax_explicit": "tab:purple",
    "linear": "tab:orange",
    "linrec": "tab:green",
    "hydra": "tab:blue",
    "reference": "tab:gray",
}

#: Slope guides cover x from (largest x) / GUIDE_SPAN to the largest x.
GUIDE_SPAN = 32

_FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def figures_dir(start: str | Path | None = None) -> Path:
    """The folder figures are saved in (created if needed).

    Walks up from ``start`` (default: the current directory) to the first folder that holds
    both ``figures/`` and ``hydrarec_minimal/`` (the repository root) and returns its
    ``figures/``. Outside the repository (Colab, an installed package) returns
    ``start/figures``, creating it.
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "figures").is_dir() and (folder / "hydrarec_minimal").is_dir():
            return folder / "figures"
    fallback = here / "figures"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _quick_figures_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "hydrarec_quick_figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_figure(fig: Figure, name: str, *, directory: str | Path | None = None) -> Path:
    """Save ``fig`` as a PNG called ``name`` and return where it went.

    Args:
        fig: the matplotlib figure.
        name: file name such as ``"01_time_vs_n.png"`` (".png" is added if missing); a
            plain name, no folders: every figure of the course lives in ``figures/``.
        directory: where to save; default ``figures_dir()``, or a temporary folder in quick
            mode (so test runs never overwrite the committed figures).

    Returns:
        The path of the PNG. Saving the same drawing twice gives identical bytes.
    """
    if not name.endswith(".png"):
        name += ".png"
    if not _FIGURE_NAME.match(name):
        raise ValueError(f"figure names are plain file names like '01_time_vs_n.png'; got {name!r}")
    if directory is not None:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = _quick_figures_dir() if quick_mode() else figures_dir()
    path = folder / name
    fig.savefig(path, dpi=DPI, format="png", metadata=PNG_METADATA, bbox_inches="tight")
    return path


def _guide_label(slope: float) -> str:
    names = {0.5: "∝ √n", 1: "∝ n", 2: "∝ n²", 3: "∝ n³"}
    return names.get(slope, f"∝ n^{slope:g}")


def add_slope_guide(
    ax: Axes, slope: float, x: float, y: float, x_min: float, label: str | None = None
) -> None:
    """Dashed line c·n^slope through the point (x, y), drawn from ``x_min`` to ``x``.

    The label ("∝ n²" for slope 2) sits just above the line's left end.
    """
    xs = np.geomspace(x_min, x, 20)
    ax.plot(xs, y * (xs / x) ** slope, "--", color="0.5", linewidth=1, zorder=0)
    ax.annotate(
        label if label is not None else _guide_label(slope),
        (xs[0], y * (xs[0] / x) ** slope),
        textcoords="offset points",
        xytext=(2, 6),
        ha="left",
        va="bottom",
        color="0.4",
        fontsize=9,
    )


def loglog_plot(
    table: pd.DataFrame,
    y: str,
    *,
    x: str = "n",
    hue: str = "kind",
    guides: Mapping[float, str] | None = None,
    ax: Axes | None = None,
    ylabel: str | None = None,
    title: str | None = None,
) -> Axes:
    """One line per value of ``hue`` (a kernel), ``y`` against ``x`` on log-log axes.

    Args:
        table: long-format data, e.g. from ``sweep_lengths`` (columns ``x``, ``y``, ``hue``).
        y: column to plot (``"seconds"``, ``"peak_bytes"``, an error, ...).
        x: column for the horizontal axis (sequence length n).
        hue: column naming the line each row belongs to.
        guides: ``{slope: name}``: a dashed n^slope line through the largest-x point of the
            line called ``name``, over the last ``GUIDE_SPAN``-fold range of x, e.g.
            ``{2: "softmax", 1: "hydra"}``.
        ax: axes to draw on (default: a new 5.5 x 4 inch figure).
        ylabel, title: axis label (default: ``y``) and title.

    Returns:
        The axes.
    """
    if ax is None:
        _fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    x_min = float(table[x].min())
    for name, group in table.groupby(hue, sort=False):
        group = group.sort_values(x)
        ax.plot(
            group[x],
            group[y],
            "o-",
            label=str(name),
            color=KIND_COLOURS.get(str(name)),
            markersize=4,
        )
    limits = ax.get_ylim()
    for slope, name in (guides or {}).items():
        line = table[table[hue] == name].sort_values(x)
        if len(line) and math.isfinite(float(line[y].iloc[-1])):
            end_x, end_y = float(line[x].iloc[-1]), float(line[y].iloc[-1])
            add_slope_guide(ax, slope, end_x, end_y, max(x_min, end_x / GUIDE_SPAN))
    ax.set_ylim(limits)  # guides never stretch the axes
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False)
    return ax


__all__ = [
    "DPI",
    "GUIDE_SPAN",
    "KIND_COLOURS",
    "PNG_METADATA",
    "add_slope_guide",
    "figures_dir",
    "loglog_plot",
    "save_figure",
]
