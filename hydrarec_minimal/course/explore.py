"""Looking at a dataset before training on it: one user's history, the split, the long tail.

Small helpers the notebooks share (notebook 04 explores MovieLens with them; later notebooks
show a user's history next to the model's recommendations):

- ``example_user(dataset)``: a typical user to look at, chosen by a fixed rule.
- ``user_history(dataset, user)``: one user's interactions as a table, with titles, times and
  the part of the leave-one-out split each interaction belongs to.
- ``plot_user_history(history)``: that table as a picture: when each item was rated, and the
  leave-one-out split drawn on the sequence (what is input and what is target, for validation
  and for test).
- ``top_share(counts, fraction)``: the share of all interactions that go to the most popular
  ``fraction`` of the items: the long tail in one number.

>>> from hydrarec_minimal.data import load_dataset
>>> data = load_dataset("synthetic")
>>> history = user_history(data, example_user(data))
>>> history.split.tail(3).tolist()
['train', 'valid', 'test']
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from hydrarec_minimal.data import SequenceDataset

#: One colour per part of the leave-one-out split, in every figure of the course.
SPLIT_COLOURS: dict[str, str] = {"train": "tab:blue", "valid": "tab:orange", "test": "tab:red"}

#: Colour of an interaction that a stage does not use (the test item, when validating).
UNUSED_COLOUR = "0.85"


def example_user(dataset: SequenceDataset) -> int:
    """A typical evaluated user: the one whose history length is closest to the median length.

    Ties go to the lowest user index, so the same dataset always gives the same user.

    Returns:
        a user index (0..num_users-1) of ``dataset.split.eval_users``.
    """
    users = dataset.split.eval_users
    if len(users) == 0:
        raise ValueError("the dataset has no evaluated users (every user has < 3 interactions)")
    lengths = np.array([len(dataset.sequences[u]) for u in users])
    distance = np.abs(lengths - np.median(lengths))
    return int(users[np.argmin(distance)])  # argmin: first of equals = lowest index


def user_history(dataset: SequenceDataset, user: int) -> pd.DataFrame:
    """One user's interactions, oldest first, one row each.

    Args:
        dataset: the dataset.
        user: a user index, 0..num_users-1 (``dataset.user_ids[user]`` is the original id).

    Returns:
        a table with columns ``position`` (1-based place in the sequence), ``rated_at``
        (UTC time), ``item`` (item id), ``title``, ``genres`` (comma-separated), ``split``
        ("train", "valid" or "test": the leave-one-out part; users with fewer than 3
        interactions are all "train") and ``same_time_as_previous`` (True when the
        interaction has the same timestamp as the one before it, so that only the
        tie-break rule decides their order).
    """
    if not 0 <= user < dataset.num_users:
        raise IndexError(f"user index {user} out of range 0..{dataset.num_users - 1}")
    items = dataset.sequences[user]
    times = dataset.timestamps[user]
    split = np.full(len(items), "train", dtype=object)
    if dataset.split.test_target[user] != 0:  # an evaluated user: last = test, one before = valid
        split[-2:] = ["valid", "test"]
    same_time = np.zeros(len(items), dtype=bool)
    same_time[1:] = times[1:] == times[:-1]
    return pd.DataFrame(
        {
            "position": np.arange(1, len(items) + 1),
            "rated_at": pd.to_datetime(times, unit="s", utc=True),
            "item": items,
            "title": [dataset.titles[i] for i in items],
            "genres": [", ".join(dataset.genres[i]) for i in items],
            "split": split,
            "same_time_as_previous": same_time,
        }
    )


def _stage_colours(split: pd.Series, stage: str) -> list[str]:
    """Cell colours of one stage: input (train colour), target, or unused."""
    if stage == "valid":
        roles = {"train": SPLIT_COLOURS["train"], "valid": SPLIT_COLOURS["valid"]}
    else:
        roles = {
            "train": SPLIT_COLOURS["train"],
            "valid": SPLIT_COLOURS["train"],  # the validation item is input when testing
            "test": SPLIT_COLOURS["test"],
        }
    return [roles.get(part, UNUSED_COLOUR) for part in split]


def plot_user_history(history: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Draw a ``user_history`` table: rating times above, the leave-one-out split below.

    Top: when each interaction was rated, against its position in the sequence, coloured by
    split; the legend names the validation and test items (times never decrease along the
    sequence, so the upper left corner is free). Bottom: one row per evaluation stage, one cell
    per interaction: input (blue), target (orange for validation, red for test), or not used
    (grey).

    Returns:
        the figure (two axes sharing the position axis).
    """
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(8, 5),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08},
    )
    positions = history.position.to_numpy()
    times = history.rated_at.dt.tz_localize(None)  # matplotlib dates, UTC
    for part, colour in SPLIT_COLOURS.items():
        rows = (history.split == part).to_numpy()
        if not rows.any():
            continue
        if part == "train":
            label = f"train ({rows.sum()} items)"
        else:  # one item: name it
            label = f"{part}: {history.title[rows].iloc[0]}"
        top.scatter(
            positions[rows],
            times[rows],
            s=16 if part == "train" else 70,
            marker="o" if part == "train" else "*",
            color=colour,
            label=label,
            zorder=3,
        )
    top.set_ylabel("rated at (UTC)")
    top.grid(True, alpha=0.3)
    top.legend(frameon=False, loc="upper left")
    if title:
        top.set_title(title)

    for y, stage in ((1, "valid"), (0, "test")):
        bottom.barh(
            np.full(len(history), y),
            width=1.0,
            left=positions - 0.5,
            height=0.8,
            color=_stage_colours(history.split, stage),
            edgecolor="white",
            linewidth=0.5 if len(history) <= 100 else 0,  # cell borders while they are visible
        )
    bottom.set_yticks([1, 0], ["validation", "test"])
    bottom.set_xlabel("position in the user's sequence (oldest first)")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_xlim(0.5 - 0.02 * len(history), len(history) + 0.5 + 0.02 * len(history))
    bottom.legend(
        handles=[
            Patch(color=SPLIT_COLOURS["train"], label="input history"),
            Patch(color=SPLIT_COLOURS["valid"], label="validation target"),
            Patch(color=SPLIT_COLOURS["test"], label="test target"),
            Patch(color=UNUSED_COLOUR, label="not used"),
        ],
        ncol=4,
        frameon=False,
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.55),
    )
    return fig


def top_share(counts: np.ndarray, fraction: float) -> float:
    """Share of all interactions received by the most popular ``fraction`` of the items.

    Args:
        counts: shape (num_items,): interactions per item (leave out padding).
        fraction: in (0, 1]; the top ``ceil(fraction * num_items)`` items (at least one).

    Returns:
        a number in [0, 1], e.g. 0.43 when the top 10% of the items get 43% of interactions.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
    counts = np.asarray(counts)
    total = counts.sum()
    if len(counts) == 0 or total == 0:
        raise ValueError("no interactions to share out")
    top = max(1, math.ceil(round(fraction * len(counts), 9)))  # round: 0.07 * 100 is 7.0000001
    return float(np.sort(counts)[::-1][:top].sum() / total)


__all__ = [
    "SPLIT_COLOURS",
    "UNUSED_COLOUR",
    "example_user",
    "plot_user_history",
    "top_share",
    "user_history",
]
