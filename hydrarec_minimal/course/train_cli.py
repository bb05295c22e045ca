"""``python -m hydrarec_minimal train``: train one model and write ``results.json``.

    python -m hydrarec_minimal train --dataset ml-100k --attention hydra --direction causal \\
        --epochs 50 --seed 0 --output results.json

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
from hydrarec_minimal.data import DATASETS, load_dataset
from hydrarec_minimal.model import DIRECTIONS, ModelConfig
from hydrarec_minimal.outputs import check_output_file, write_json
from hydrarec_minimal.settings import quick_mode
from hydrarec_minimal.train import LOSSES, TrainConfig

#: In quick mode (HYDRAREC_QUICK=1): at most this many epochs and users.
QUICK_EPOCHS, QUICK_USERS = 2, 100


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``train`` and ``reproduce``: data, model size, training."""
    parser.add_argument("--dataset", default="ml-100k", choices=DATASETS)
    parser.add_argument("--epochs", type=positive_int, default=50, help="most epochs (default 50)")
    parser.add_argument("--max-len", type=positive_int, default=200, help="longest input (200)")
    parser.add_argument("--dim", type=positive_int, default=64, help="model width (64)")
    parser.add_argument("--layers", type=positive_int, default=2, help="transformer blocks (2)")
    parser.add_argument(
        "--heads", type=positive_int, default=2, help="heads of softmax/linear/linrec (2)"
    )
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout rate (0.2)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (1e-3)")
    parser.add_argument("--batch-size", type=positive_int, default=128, help="(128)")
    parser.add_argument(
        "--patience", type=positive_int, default=10, help="early-stopping patience (10)"
    )
    parser.add_argument(
        "--loss",
        choices=LOSSES,
        default="ce",
        help="ce (default), ce-chunked (the same without the score matrix: less memory) or bce",
    )
    parser.add_argument("--mask-prob", type=float, default=0.2, help="cloze masking rate (0.2)")
    parser.add_argument(
        "--last-item-prob",
        type=float,
        default=0.0,
        help="share of cloze sequences with only the last item masked (0.0)",
    )
    parser.add_argument(
        "--fused-attention",
        action="store_true",
        help="Hydra attention compiled by torch.compile (hydra models; see fused.py)",
    )
    parser.add_argument(
        "--previous-item",
        action="store_true",
        help="also feed each position the item before it (local context for Hydra; model.py)",
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu) or a device")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


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
    print(f"  epochs run {results['epochs_run']} (best {results['best_epoch']}), ", end="")
    print(f"{results['seconds_per_epoch']:.2f} s per training epoch")
    print(f"  test (full ranking)  {format_metrics(results['metrics']['test'])}")
    print(f"  popularity floor     {format_metrics(results['popularity_baseline']['test'])}")
    print(f"Results written to {output}")
    return 0


HELP = "train one model and write results.json"
"""One line for ``python -m hydrarec_minimal --help``."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``train``."""
    parser.add_argument("--attention", choices=sorted(ATTENTION_KERNELS), default="hydra")
    parser.add_argument("--direction", choices=DIRECTIONS, default="causal")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--output", default="results.json", help="results file (results.json)")
    parser.add_argument("--checkpoint", default=None, help="also save the best model here")
    add_model_arguments(parser)
