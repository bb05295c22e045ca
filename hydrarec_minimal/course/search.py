"""``python -m hydrarec_minimal search``: one grid of training settings for every model, chosen
on the validation split.

    python -m hydrarec_minimal search --lrs 0.001 0.003 --batch-sizes 16 32 \\
        --epochs 200 --output-dir results/ml-100k-search

runs ``reproduce`` once per (lr, batch size), seed 0, into ``OUTPUT_DIR/lr<lr>-batch<b>/``,
then writes ``OUTPUT_DIR/search.md``: each model's best validation NDCG@10 under every setting
and the setting it does best with. The test split is never read to choose. The grid and its
budget (epoch cap, patience) are the same for every model. Runs already on disk are kept.
``--previous-item`` and ``--last-item-prob`` pass through to every run (a variant's search).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hydrarec_minimal.course import reproduce
from hydrarec_minimal.course.outputs import write_text

HELP = "train every model under a grid of learning rates and batch sizes; pick on validation"
"""One line for ``python -m hydrarec_minimal --help``."""


def setting_folder(output_dir: Path, lr: float, batch_size: int) -> Path:
    return output_dir / f"lr{lr:g}-batch{batch_size}"


def search_table(output_dir: str | Path) -> pd.DataFrame:
    """One row per (model, setting): ``model, lr, batch_size, valid NDCG@10`` (the best epoch's,
    the one early stopping kept), ``epochs``, ``minutes``, and ``chosen`` (True on each model's
    best setting). ``ValueError`` if there are no runs."""
    rows = []
    for folder in sorted(Path(output_dir).glob("lr*-batch*")):
        for run in reproduce.load_runs(folder):
            model, train = run["config"]["model"], run["config"]["train"]
            best = reproduce.best_valid_metrics(run)
            rows.append(
                {
                    "model": reproduce.model_name(model["attention"], model["direction"]),
                    "lr": train["lr"],
                    "batch_size": train["batch_size"],
                    "valid NDCG@10": best["NDCG@10"],
                    "epochs": run["epochs_run"],
                    "epoch cap": train["epochs"],
                    "minutes": run["wall_seconds"] / 60,
                }
            )
    if not rows:
        raise ValueError(f"no search runs under {output_dir}")
    table = pd.DataFrame(rows).sort_values(["model", "lr", "batch_size"], ignore_index=True)
    best = table.groupby("model", sort=False)["valid NDCG@10"].transform("max")
    return table.assign(chosen=table["valid NDCG@10"] == best)


def markdown_search(table: pd.DataFrame) -> str:
    """``search_table`` as Markdown, one row per model and setting, the chosen one in bold."""
    lines = [
        "| model | lr | batch | valid NDCG@10 | epochs (cap) | minutes |",
        "|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        score = f"{row['valid NDCG@10']:.4f}"
        score = f"**{score}**" if row["chosen"] else score
        lines.append(
            f"| {row['model']} | {row['lr']:g} | {row['batch_size']} | {score} "
            f"| {row['epochs']} ({row['epoch cap']}) | {row['minutes']:.1f} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run every missing (setting, model), then write and print ``search.md``."""
    output_dir = Path(args.output_dir)
    parser = argparse.ArgumentParser()  # each setting is one reproduce command line
    reproduce.configure(parser)
    variant = ["--previous-item"] if args.previous_item else []
    if args.last_item_prob is not None:
        variant += ["--last-item-prob", str(args.last_item_prob)]
    for lr in args.lrs:
        for batch_size in args.batch_sizes:
            argv = [
                "--output-dir", str(setting_folder(output_dir, lr, batch_size)),
                "--seeds", "0", "--lr", str(lr), "--batch-size", str(batch_size),
                "--epochs", str(args.epochs), "--patience", str(args.patience),
                "--dataset", args.dataset, "--attentions", *args.attentions,
                "--directions", *args.directions,
                *variant,
                *(["--quiet"] if args.quiet else []),
            ]  # fmt: skip
            setting = parser.parse_args(argv)
            setting.parser = args.parser
            reproduce.run(setting)
    text = (
        f"Validation NDCG@10 (full ranking, history excluded) of seed 0 at its best epoch; "
        f"the same grid, epoch cap and patience ({args.patience}) for every model; bold: the "
        f"setting each model is run with.\n\n{markdown_search(search_table(output_dir))}\n"
    )
    write_text(output_dir / "search.md", text)
    print(text)
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``search``."""
    parser.add_argument("--output-dir", default="results/ml-100k-search")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--epochs", type=int, default=200, help="epoch cap of every run")
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--attentions", nargs="+", default=["softmax", "hydra"])
    parser.add_argument("--directions", nargs="+", default=["causal", "bidirectional"])
    parser.add_argument(
        "--previous-item", action="store_true", help="search the previous-item variant"
    )
    parser.add_argument(
        "--last-item-prob", type=float, help="cloze models only (default: TrainConfig's)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
