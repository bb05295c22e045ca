"""``python -m hydrarec_minimal reproduce``: the whole comparison, and the table the README shows.

    python -m hydrarec_minimal reproduce --dataset ml-100k --seeds 0 1 2 \\
        --output-dir results/ml-100k

runs every attention kernel × direction × seed through ``run_experiment`` and writes

    OUTPUT_DIR/runs/<attention>-<direction>-seed<k>.json   one results file per run
    OUTPUT_DIR/comparison.md                              the table (mean ± std over seeds)
    OUTPUT_DIR/comparison.csv                             the same numbers, one row per model

Nothing is lost when a long run is interrupted: a run whose results file exists is not run
again (delete it to redo it), and the table is rebuilt from whatever files are there. Files are
written atomically (never half a file), and an output folder that cannot be written is an
error before the first run starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from hydrarec_minimal.attention import ATTENTION_KERNELS
from hydrarec_minimal.course.bootstrap import paired_bootstrap
from hydrarec_minimal.course.experiment import run_experiment
from hydrarec_minimal.course.outputs import (
    check_output_file,
    check_output_folder,
    write_json,
    write_text,
)
from hydrarec_minimal.course.train_cli import (
    add_model_arguments,
    configs_from_args,
    load_for_training,
)
from hydrarec_minimal.model import DIRECTIONS, ModelConfig
from hydrarec_minimal.settings import quick_mode
from hydrarec_minimal.train import TrainConfig

#: What the literature calls some of the combinations.
MODEL_NAMES = {
    ("softmax", "causal"): "SASRec",
    ("softmax", "bidirectional"): "BERT4Rec",
    ("hydra", "causal"): "HydraRec (causal)",
    ("hydra", "bidirectional"): "HydraRec (bidirectional)",
}
TABLE_METRICS = ("HR@10", "NDCG@10", "MRR@10")
#: The second protocol's column: seen items stay candidates (``experiment.PROTOCOL_WITH_HISTORY``).
WITH_HISTORY = "NDCG@10 with history"
#: Stored test ranks (``test_ranks`` of a results file) -> how tables name the protocol.
PROTOCOL_LABELS = {"full": "history excluded", "full-with-history": "history kept"}
COMPARISON_FILES = ("comparison.md", "comparison.csv")
#: Config fields that are not settings of a comparison: what it varies, and what leaves the
#: numbers unchanged (or is stated elsewhere: the device).
NOT_SETTINGS = frozenset({"num_items", "attention", "direction", "seed", "device", "progress"})


def model_name(attention: str, direction: str) -> str:
    return MODEL_NAMES.get((attention, direction), f"{attention} attention ({direction})")


def run_file(output_dir: Path, attention: str, direction: str, seed: int) -> Path:
    return output_dir / "runs" / f"{attention}-{direction}-seed{seed}.json"


def load_runs(output_dir: str | Path) -> list[dict]:
    """Every results file under ``output_dir/runs``, sorted by file name."""
    return [json.loads(p.read_text()) for p in sorted(Path(output_dir).glob("runs/*.json"))]


def best_valid_metrics(run: dict) -> dict[str, float]:
    """The validation metrics of the epoch early stopping kept (``run["best_epoch"]``, 1-based)."""
    return run["history"]["valid_metrics"][run["best_epoch"] - 1]


def comparison_table(runs: list[dict]) -> pd.DataFrame:
    """One row per (attention, direction): mean and std over seeds of the test metrics.

    Rows: causal models first, then bidirectional, each in the order softmax, linear, LinRec,
    Hydra (the baseline first, HydraRec last).

    Columns: model, attention, direction, seeds, ``<metric> mean``/``<metric> std`` for
    HR@10, NDCG@10, MRR@10, the same for ``NDCG@10 with history`` (the second protocol; NaN
    for results files without it), ``s/epoch``, ``epochs``, ``minutes`` (whole run) and
    ``epoch cap mean``; then a popularity row (its metrics do not depend on the seed). The std
    is the sample standard deviation (ddof=1).
    """
    rows = []
    for run in runs:
        model = run["config"]["model"]
        row = {"attention": model["attention"], "direction": model["direction"]}
        row |= {metric: run["metrics"]["test"][metric] for metric in TABLE_METRICS}
        with_history = run.get("metrics_with_history", {}).get("test", {})
        row[WITH_HISTORY] = with_history.get("NDCG@10", math.nan)
        row |= {"s/epoch": run["seconds_per_epoch"], "epochs": run["epochs_run"]}
        row |= {"minutes": run.get("wall_seconds", math.nan) / 60}
        row["epoch cap"] = run["config"].get("train", {}).get("epochs", math.nan)
        rows.append(row)
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["direction", "attention"], sort=False)
    table = grouped.agg(["mean", "std"])
    table.columns = [f"{column} {stat}" for column, stat in table.columns]
    table["seeds"] = grouped.size()
    table = table.reset_index()
    order = {name: rank for rank, name in enumerate((*DIRECTIONS, *ATTENTION_KERNELS))}
    table = table.sort_values(
        ["direction", "attention"], key=lambda column: column.map(order), ignore_index=True
    )
    names = [model_name(a, d) for a, d in zip(table.attention, table.direction, strict=True)]
    table.insert(0, "model", names)
    floor = runs[0]["popularity_baseline"]["test"]
    floor_with_history = runs[0].get("popularity_baseline_with_history", {}).get("test", {})
    popularity = {"model": "Popularity (floor)", "attention": "-", "direction": "-"}
    popularity |= {f"{metric} mean": floor[metric] for metric in TABLE_METRICS}
    popularity[f"{WITH_HISTORY} mean"] = floor_with_history.get("NDCG@10", math.nan)
    return pd.concat([table, pd.DataFrame([popularity])], ignore_index=True)


def _model_of(run: dict) -> tuple[str, str]:
    return run["config"]["model"]["attention"], run["config"]["model"]["direction"]


def runs_of(runs: list[dict], attention: str, direction: str) -> list[dict]:
    """The runs of one model (attention kernel and direction), in their order."""
    return [run for run in runs if _model_of(run) == (attention, direction)]


def _ranks_by_seed(runs: list[dict], protocol: str, name: str) -> np.ndarray:
    """``(seeds, users)``: the stored test ranks of ``runs`` (one model), seeds in order."""
    if not runs:
        raise KeyError(f"no runs of {name}")
    if any("test_ranks" not in run for run in runs):
        raise KeyError(f"runs of {name} store no test ranks")
    chosen = sorted(runs, key=lambda run: run["config"]["train"]["seed"])
    return np.array([run["test_ranks"][protocol] for run in chosen])


def stored_ranks(runs: list[dict], attention: str, direction: str, protocol: str) -> np.ndarray:
    """``(seeds, users)``: the test ranks stored by every run of one model, seeds in order.

    ``KeyError`` if there is no such run or one has no stored ranks (an older results file).
    """
    return _ranks_by_seed(
        runs_of(runs, attention, direction), protocol, model_name(attention, direction)
    )


def variant_name(runs: list[dict]) -> str:
    """The model of ``runs`` (one model), ``" + previous item"`` added when it has that input.

    ``ValueError`` if ``runs`` is empty or mixes models or the previous-item switch."""
    kinds = {(*_model_of(run), run["config"]["model"].get("previous_item", False)) for run in runs}
    if len(kinds) != 1:
        raise ValueError(f"expected the runs of one model, got {sorted(kinds) or 'none'}")
    ((attention, direction, previous_item),) = kinds
    return model_name(attention, direction) + (" + previous item" if previous_item else "")


DIFFERENCE_COLUMNS = ["model", "other", "protocol", "mean", "low", "high", "verdict"]


def compare_runs(
    runs_a: list[dict],
    runs_b: list[dict],
    metric: str = "NDCG@10",
    names: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """A minus B, each list the runs of one model, from any folders (e.g. a variant against
    the baseline of another comparison): ``paired_bootstrap`` over users and seeds, for each
    protocol both store. Columns as ``paired_differences``, named by ``variant_name`` unless
    ``names`` is given; empty without stored ranks. ``ValueError`` if a list mixes models or
    the runs rank different users.
    """
    checked = variant_name(runs_a), variant_name(runs_b)
    names = names or checked
    rows = []
    for protocol, label in PROTOCOL_LABELS.items():
        try:
            ranks = [
                _ranks_by_seed(runs, protocol, name)
                for runs, name in zip((runs_a, runs_b), names, strict=True)
            ]
        except KeyError:
            continue
        difference = paired_bootstrap(*ranks, metric=metric)
        rows.append(
            {
                "model": names[0],
                "other": names[1],
                "protocol": label,
                "mean": difference.mean,
                "low": difference.low,
                "high": difference.high,
                "verdict": difference.verdict,
            }
        )
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)


def paired_differences(runs: list[dict], metric: str = "NDCG@10") -> pd.DataFrame:
    """Each kernel minus softmax in the same direction: ``paired_bootstrap`` over users and
    seeds, for both protocols. Columns: model, other, protocol, mean, low, high, verdict.
    Empty when the runs store no test ranks. The runs are of one comparison (one folder);
    ``compare_runs`` compares runs of two."""
    frames = []
    kinds = {_model_of(run) for run in runs}
    for direction in DIRECTIONS:
        for attention in ATTENTION_KERNELS:
            if attention == "softmax" or {(attention, direction), ("softmax", direction)} - kinds:
                continue
            runs_a, runs_b = (runs_of(runs, a, direction) for a in (attention, "softmax"))
            names = model_name(attention, direction), model_name("softmax", direction)
            frames.append(compare_runs(runs_a, runs_b, metric, names))
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=DIFFERENCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def default_settings() -> dict[str, object]:
    """The model and training settings of ``train`` and ``reproduce`` given no options.

    The defaults of ``ModelConfig`` and ``TrainConfig``, which the command line also uses.
    """
    fields = [*dataclasses.fields(ModelConfig), *dataclasses.fields(TrainConfig)]
    return {
        field.name: field.default
        for field in fields
        if field.default is not dataclasses.MISSING and field.name not in NOT_SETTINGS
    } | {"fused_attention": False}  # the --fused-attention flag, recorded with the model's


def changed_settings(runs: list[dict]) -> list[str]:
    """The settings of ``runs`` that differ from ``default_settings()``.

    E.g. ``["last_item_prob = 0.5"]``, or ``["epochs = 200", "patience = 20"]``; runs that
    disagree show every value (``"lr = 0.001 / 0.002"``). Settings a results file does not
    record are skipped.
    """
    changed = []
    for name, default in default_settings().items():
        recorded = [
            run["config"][part][name]
            for run in runs
            for part in ("model", "train")
            if name in run["config"].get(part, {})
        ]
        if any(value != default for value in recorded):
            values = sorted(set(recorded), key=str)
            changed.append(f"{name} = " + " / ".join(str(value) for value in values))
    return changed


def settings_per_model(runs: list[dict]) -> list[str]:
    """``["SASRec: lr = 0.003, batch_size = 16", ...]``: each model's ``changed_settings``."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        model = run["config"]["model"]
        groups.setdefault(model_name(model["attention"], model["direction"]), []).append(run)
    return [
        f"{name}: {', '.join(changed_settings(group)) or 'the defaults of `train`'}"
        for name, group in groups.items()
    ]


def markdown_table(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table with ``mean ± std`` cells."""

    def cell(row, column: str, digits: int) -> str:
        mean, std = row.get(f"{column} mean"), row.get(f"{column} std")
        if pd.isna(mean):
            return "–"
        return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"

    header = (
        "| model | " + " | ".join(TABLE_METRICS) + f" | {WITH_HISTORY} | s / epoch | epochs "
        "| epoch cap | minutes | seeds |"
    )
    lines = [header, "|" + "---|" * (len(TABLE_METRICS) + 7)]
    for _, row in table.iterrows():
        cells = [cell(row, metric, 4) for metric in (*TABLE_METRICS, WITH_HISTORY)]
        cells += [cell(row, "s/epoch", 2), cell(row, "epochs", 1)]
        cap = row.get("epoch cap mean")
        cells += ["–" if pd.isna(cap) else f"{cap:.0f}", cell(row, "minutes", 1)]
        seeds = "–" if pd.isna(row.get("seeds")) else str(int(row["seeds"]))
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {seeds} |")
    return "\n".join(lines)


def markdown_differences(differences: pd.DataFrame, metric: str = "NDCG@10") -> str:
    """``paired_differences`` as a Markdown table: mean [low, high] and the verdict."""
    lines = [
        f"| model | minus | protocol | {metric} difference [95% interval] | verdict |",
        "|---|---|---|---|---|",
    ]
    for _, row in differences.iterrows():
        interval = f"{row['mean']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]"
        lines.append(
            f"| {row['model']} | {row['other']} | {row['protocol']} | {interval} "
            f"| {row['verdict']} |"
        )
    return "\n".join(lines)


def write_comparison(output_dir: str | Path) -> str:
    """Rebuild ``comparison.md`` and ``comparison.csv`` from the run files; return the text."""
    output_dir = Path(output_dir)
    runs = load_runs(output_dir)
    if not runs:
        raise ValueError(f"no results files in {output_dir / 'runs'}")
    table = comparison_table(runs)
    first = runs[0]
    changed = changed_settings(runs)
    settings = "the defaults of `train`" + (f", except {', '.join(changed)}" if changed else "")
    if any(" / " in line for line in changed):  # models trained differently: say which how
        settings = "per model, " + "; ".join(settings_per_model(runs))
    text = (
        f"Protocol: {first['protocol']}\n\n"
        f"Test split, mean ± std over seeds; seconds per training epoch and minutes per whole "
        f"run on {first['device']}; epochs = epochs run before early stopping on validation "
        f"NDCG@10. Settings: {settings}.\n\n"
        f"{markdown_table(table)}\n"
    )
    if "metrics_with_history" in first:
        text += f"\n{WITH_HISTORY}: the user's history stays among the candidates.\n"
    differences = paired_differences(runs)
    if not differences.empty:
        text += (
            "\nMinus the softmax model: mean over users and seeds, paired bootstrap 95% "
            "interval; better or worse when it excludes 0.\n\n"
            f"{markdown_differences(differences)}\n"
        )
    markdown, csv = (output_dir / name for name in COMPARISON_FILES)
    write_text(markdown, text)
    write_text(csv, table.to_csv(index=False))
    return text


def run(args: argparse.Namespace) -> int:
    """Run every missing (attention, direction, seed), then print and write the table."""
    output_dir = Path(args.output_dir)
    for attention in args.attentions:  # check the settings before spending time on data
        for direction in args.directions:
            try:
                configs_from_args(args, 1, attention, direction, args.seeds[0])
            except ValueError as error:
                args.parser.error(str(error))
    check_output_folder(output_dir / "runs", "results files")  # before hours of training
    for name in COMPARISON_FILES:
        check_output_file(output_dir / name, "comparison table")
    dataset = load_for_training(args.dataset)
    grid = [
        (seed, direction, attention)  # seed outermost: an interrupted run has every model
        for seed in args.seeds
        for direction in args.directions
        for attention in args.attentions
    ]
    for seed, direction, attention in grid:
        path = run_file(output_dir, attention, direction, seed)
        if path.exists():
            print(f"kept   {path} (delete it to run again)")
            continue
        configs = configs_from_args(args, dataset.num_items, attention, direction, seed)
        print(f"train  {model_name(attention, direction)}, seed {seed}", flush=True)
        # only Hydra has a fused version (of reproduce's kernels, its runs use it)
        fused = args.fused_attention and attention == "hydra"
        results = run_experiment(dataset, *configs, fused_attention=fused)
        results |= {"quick_mode": quick_mode()}
        write_json(path, results)
    print(write_comparison(output_dir))
    return 0


HELP = "run the kernels x directions x seeds comparison and write its table"
"""One line for ``python -m hydrarec_minimal --help``."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``reproduce``."""
    parser.add_argument("--output-dir", default="results/ml-100k", help="(results/ml-100k)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(0 1 2)")
    parser.add_argument(
        "--attentions",
        nargs="+",
        choices=sorted(ATTENTION_KERNELS),
        default=list(ATTENTION_KERNELS),
    )
    parser.add_argument("--directions", nargs="+", choices=DIRECTIONS, default=list(DIRECTIONS))
    add_model_arguments(parser)
