"""``python -m hydrarec_minimal train``: train one model and write ``results.json``.

    python -m hydrarec_minimal train --dataset ml-100k --attention hydra --direction causal \\
        --seed 0 --output results.json

Defaults train causal HydraRec on ML-100K. softmax + causal is SASRec, softmax +
bidirectional is BERT4Rec. The numbers printed and stored are full-ranking metrics under the
protocol printed above them. If MovieLens cannot be found or downloaded, the run falls back
(loudly, and recorded in the results) to synthetic data, unless HYDRAREC_STRICT_DATA=1.
With HYDRAREC_QUICK=1 the run shrinks to a smoke test (2 epochs, 100 users). The output and
checkpoint paths are checked before training (one error line if they cannot be written), and
both files are written atomically.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from hydrarec_minimal.attention import ATTENTION_KERNELS
from hydrarec_minimal.course.experiment import run_experiment
from hydrarec_minimal.course.outputs import check_output_file, write_json
from hydrarec_minimal.data import DATASETS, load_dataset
from hydrarec_minimal.model import DIRECTIONS, ModelConfig
from hydrarec_minimal.settings import quick_mode
from hydrarec_minimal.train import LOSSES, TrainConfig

#: In quick mode (HYDRAREC_QUICK=1): at most this many epochs and users.
QUICK_EPOCHS, QUICK_USERS = 2, 100


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``train`` and ``reproduce``: data, model size, training.

    Defaults come from ``ModelConfig`` and ``TrainConfig``, and so do the range checks
    (``run`` turns their ``ValueError`` into a usage error).
    """
    model, train = ModelConfig, TrainConfig
    add = parser.add_argument
    add("--dataset", default="ml-100k", choices=DATASETS, help="(default: %(default)s)")
    add("--epochs", type=int, default=train.epochs, help="most epochs (default: %(default)s)")
    add("--max-len", type=int, default=model.max_len, help="longest input (default: %(default)s)")
    add("--dim", type=int, default=model.dim, help="model width (default: %(default)s)")
    add(
        "--layers", type=int, default=model.layers, help="transformer blocks (default: %(default)s)"
    )
    add(
        "--heads",
        type=int,
        default=model.heads,
        help="heads of softmax/linear/linrec (default: %(default)s)",
    )
    add("--dropout", type=float, default=model.dropout, help="dropout rate (default: %(default)s)")
    add("--lr", type=float, default=train.lr, help="AdamW learning rate (default: %(default)s)")
    add("--batch-size", type=int, default=train.batch_size, help="(default: %(default)s)")
    add(
        "--patience",
        type=int,
        default=train.patience,
        help="early-stopping patience (default: %(default)s)",
    )
    add(
        "--loss",
        choices=LOSSES,
        default=train.loss,
        help="ce (full softmax cross-entropy), ce-chunked (the same without the score matrix: "
        "less memory) or bce (default: %(default)s)",
    )
    add(
        "--mask-prob",
        type=float,
        default=train.mask_prob,
        help="cloze masking rate (default: %(default)s)",
    )
    add(
        "--last-item-prob",
        type=float,
        default=train.last_item_prob,
        help="share of cloze sequences with only the last item masked (default: %(default)s)",
    )
    add(
        "--fused-attention",
        action="store_true",
        help="Hydra attention compiled by torch.compile (ModelConfig.fused_attention)",
    )
    add(
        "--previous-item",
        action="store_true",
        help="also feed each position the item before it (ModelConfig.previous_item)",
    )
    add(
        "--item-bias",
        action="store_true",
        help="a learned per-item score bias (ModelConfig.item_bias)",
    )
    add(
        "--device",
        default=train.device,
        help="auto (cuda, mps, cpu) or a device (default: %(default)s)",
    )
    add("--quiet", action="store_true", help="no progress bars")


def configs_from_args(
    args: argparse.Namespace, num_items: int, attention: str, direction: str, seed: int
) -> tuple[ModelConfig, TrainConfig]:
    """Build the two configs; ``ValueError`` for settings they reject."""
    model_config = ModelConfig(
        num_items=num_items,
        attention=attention,
        direction=direction,
        max_len=args.max_len,
        dim=args.dim,
        layers=args.layers,
        heads=args.heads,
        dropout=args.dropout,
        previous_item=args.previous_item,
        item_bias=args.item_bias,
    )
    train_config = TrainConfig(
        epochs=min(args.epochs, QUICK_EPOCHS) if quick_mode() else args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        loss=args.loss,
        mask_prob=args.mask_prob,
        last_item_prob=args.last_item_prob,
        seed=seed,
        device=args.device,
        progress=not args.quiet,
    )
    return model_config, train_config


def load_for_training(name: str):
    """The dataset, shrunk to ``QUICK_USERS`` users in quick mode."""
    return load_dataset(name, max_users=QUICK_USERS if quick_mode() else None)


def format_metrics(metrics: dict[str, float], keys=("HR@10", "NDCG@10", "MRR@10")) -> str:
    return "  ".join(f"{key} {metrics[key]:.4f}" for key in keys)


def run(args: argparse.Namespace) -> int:
    """Train, print the test metrics with their protocol, write the results file."""
    if args.fused_attention and args.attention != "hydra":
        args.parser.error(f"--fused-attention is for hydra only, not {args.attention}")
    try:  # check the settings before spending time on data
        model_config, train_config = configs_from_args(
            args, 1, args.attention, args.direction, args.seed
        )
    except ValueError as error:
        args.parser.error(str(error))
    output = check_output_file(args.output, "results file")  # before hours of training
    if args.checkpoint is not None:
        check_output_file(args.checkpoint, "checkpoint")
    dataset = load_for_training(args.dataset)
    model_config = replace(model_config, num_items=dataset.num_items)
    results = run_experiment(
        dataset, model_config, train_config, args.checkpoint, args.fused_attention
    )
    results["quick_mode"] = quick_mode()
    write_json(output, results)
    print(f"Protocol: {results['protocol']}")
    print(f"Model: {args.attention}, {args.direction}; seed {args.seed}; {results['device']}")
    print(f"  epochs run {results['epochs_run']} of {train_config.epochs} ", end="")
    print(
        f"(best {results['best_epoch']}), {results['seconds_per_epoch']:.2f} s per training ",
        end="",
    )
    print(f"epoch, {results['wall_seconds'] / 60:.1f} minutes in all")
    for label, key in [
        ("test (full ranking, history excluded)", "metrics"),
        ("test (full ranking, history kept)", "metrics_with_history"),
        ("popularity floor (history excluded)", "popularity_baseline"),
    ]:
        print(f"  {label:<39}{format_metrics(results[key]['test'])}")
    print(f"Results written to {output}")
    return 0


HELP = "train one model and write results.json"
"""One line for ``python -m hydrarec_minimal --help``."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``train``."""
    parser.add_argument(
        "--attention",
        choices=sorted(ATTENTION_KERNELS),
        default=ModelConfig.attention,
        help="(default: %(default)s)",
    )
    parser.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default=ModelConfig.direction,
        help="(default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="(default: %(default)s)")
    parser.add_argument(
        "--output", default="results.json", help="results file (default: %(default)s)"
    )
    parser.add_argument("--checkpoint", default=None, help="also save the best model here")
    add_model_arguments(parser)
