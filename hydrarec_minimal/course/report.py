"""Reading results: learning curves, one user's recommendations, and the paper's claims checked.

Notebooks 05-07 show what training produced. The numbers come from results files written by
``run_experiment`` (``python -m hydrarec_minimal reproduce`` writes one per run), so that a
notebook never hides an hour of training in a cell, and from models trained in the notebook.

    runs = load_runs("results/ml-100k")
    plot_learning_curves(runs, "causal")
    table = comparison_table(runs)
    compare(table, "HydraRec (causal)", "SASRec")     # {"verdict": "level (within one std)", ...}
    recommend(model, dataset, user, k=10)             # a table with titles
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from hydrarec_minimal.course.plotting import KIND_COLOURS
from hydrarec_minimal.course.reproduce import model_name
from hydrarec_minimal.data import SequenceDataset
from hydrarec_minimal.metrics import target_ranks
from hydrarec_minimal.model import SequentialRecommender
from hydrarec_minimal.train import score_items


def learning_curves(runs: list[dict]) -> pd.DataFrame:
    """One row per (run, epoch): ``model, attention, direction, seed, epoch, train_loss``,
    and the validation metrics of that epoch (``valid HR@10``, ``valid NDCG@10``, ...)."""
    rows = []
    for run in runs:
        model = run["config"]["model"]
        history = run["history"]
        for epoch, (loss, metrics) in enumerate(
            zip(history["train_loss"], history["valid_metrics"], strict=True), start=1
        ):
            row = {
                "model": model_name(model["attention"], model["direction"]),
                "attention": model["attention"],
                "direction": model["direction"],
                "seed": run["config"]["train"]["seed"],
                "epoch": epoch,
                "train_loss": loss,
            }
            rows.append(row | {f"valid {name}": value for name, value in metrics.items()})
    return pd.DataFrame(rows)


def plot_learning_curves(
    runs: list[dict], direction: str, *, metric: str = "NDCG@10", title: str = ""
) -> Figure:
    """Training loss and validation ``metric`` per epoch, one line per run of ``direction``.

    Every seed is drawn (thin lines, one colour per kernel) and each run's best epoch, the
    one whose weights were kept, is marked with a dot. The popularity floor on the validation
    split is the dashed line.
    """
    curves = learning_curves(runs)
    curves = curves[curves.direction == direction]
    if curves.empty:
        raise ValueError(f"no runs with direction {direction!r}")
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for (attention, seed), curve in curves.groupby(["attention", "seed"], sort=False):
        colour = KIND_COLOURS.get(attention)
        label = curve.model.iloc[0] if seed == curves.seed.min() else None
        loss_ax.plot(curve.epoch, curve.train_loss, color=colour, linewidth=1, label=label)
        metric_ax.plot(curve.epoch, curve[f"valid {metric}"], color=colour, linewidth=1)
        best = curve.loc[curve[f"valid {metric}"].idxmax()]
        metric_ax.plot(best.epoch, best[f"valid {metric}"], "o", color=colour, markersize=4)
    floor = runs[0]["popularity_baseline"]["valid"][metric]
    metric_ax.axhline(floor, color="0.4", linestyle="--", linewidth=1)
    metric_ax.annotate(
        "popularity", (1, floor), xytext=(2, 3), textcoords="offset points", color="0.4"
    )
    loss_ax.set_ylabel("training loss (cross-entropy)")
    metric_ax.set_ylabel(f"validation {metric} (full ranking)")
    for ax in (loss_ax, metric_ax):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    loss_ax.legend(frameon=False, fontsize=8)
    fig.suptitle(title or f"Learning curves, {direction} models (one line per seed)")
    fig.tight_layout()
    return fig


def compare(
    table: pd.DataFrame, model: str, other: str, metric: str = "NDCG@10"
) -> dict[str, object]:
    """How ``model`` stands against ``other`` in a ``comparison_table``.

    Returns:
        ``model``, ``other``, their means and stds, ``ratio`` (model mean / other mean) and
        ``verdict``: "better" when the difference exceeds the larger std, "worse" when it is
        below minus that, otherwise "level (within one std)". A row without a std (the
        popularity floor) counts as 0.
    """
    rows = table.set_index("model")
    for name in (model, other):
        if name not in rows.index:
            raise KeyError(f"no row {name!r}; rows: {list(rows.index)}")
    mean, other_mean = rows.at[model, f"{metric} mean"], rows.at[other, f"{metric} mean"]
    std, other_std = (
        0.0 if pd.isna(s) else float(s)
        for s in (rows.at[model, f"{metric} std"], rows.at[other, f"{metric} std"])
    )
    spread = max(std, other_std)
    difference = mean - other_mean
    verdict = (
        "better"
        if difference > spread
        else "worse"
        if difference < -spread
        else "level (within one std)"
    )
    return {
        "model": model,
        "other": other,
        "metric": metric,
        "mean": float(mean),
        "std": std,
        "other mean": float(other_mean),
        "other std": other_std,
        "ratio": float(mean / other_mean) if other_mean else math.nan,
        "verdict": verdict,
    }


@torch.no_grad()
def recommend(
    model: SequentialRecommender,
    dataset: SequenceDataset,
    user: int,
    *,
    stage: str = "test",
    k: int = 10,
) -> tuple[pd.DataFrame, int]:
    """The top ``k`` recommendations for one user, as the evaluation ranks them.

    The input is the user's history for ``stage`` (its last ``max_len`` items; a cloze model
    gets the mask token appended), the candidates are all items minus that whole history.

    Args:
        model: a trained recommender (put in evaluation mode here).
        dataset: the dataset it was trained on.
        user: an evaluated user index.
        stage: "valid" or "test".
        k: how many items (fewer if fewer candidates remain).

    Returns:
        ``(table, rank)``: a table with columns ``rank`` (1-based), ``item``, ``title``,
        ``score`` and ``target`` (True for the held-out item), and the held-out item's
        0-based rank among all candidates (ties counted against it).
    """
    if not 0 <= user < dataset.num_users or not dataset.split.target(user, stage):
        raise ValueError(f"user {user} is not evaluated (fewer than 3 interactions)")
    history = dataset.split.history(user, stage)
    target = torch.tensor([dataset.split.target(user, stage)])
    scores = score_items(model, history, exclude=history[history != int(target)])[None]
    candidates = int(torch.isfinite(scores[0]).sum())  # all items minus the history
    top = scores[0].topk(min(k, candidates))
    items = top.indices.numpy()
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(items) + 1),
            "item": items,
            "title": [dataset.titles[i] for i in items],
            "score": top.values.numpy(),
            "target": items == int(target),
        }
    )
    return table, int(target_ranks(scores, target)[0])


def find_results(name: str = "ml-100k", start: str | Path | None = None) -> Path:
    """The committed results folder ``results/<name>`` of this repository.

    Looked for in ``start`` (default: the current folder) and its parents, so that it is found
    from the repository root and from ``notebooks/``.

    Raises:
        FileNotFoundError: saying how to produce the files (``reproduce``) when none is found.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "results" / name
        if (candidate / "runs").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no results/{name}/runs folder in {here} or above it. Run the notebook from a clone "
        f"of the repository, or produce the files: python -m hydrarec_minimal reproduce "
        f"--dataset {name} --output-dir results/{name}"
    )
