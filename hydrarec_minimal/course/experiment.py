"""One experiment = one dataset, one model, one seed: train, evaluate, write ``results.json``.

    from hydrarec_minimal.data import load_dataset
    from hydrarec_minimal.course.experiment import run_experiment
    results = run_experiment(load_dataset("ml-100k"), ModelConfig(...), TrainConfig(...))

The command line (``python -m hydrarec_minimal train``), the reproduction script and the
notebooks all go through ``run_experiment``, so every number in the course is produced by the
same code. ``results`` holds: ``dataset``, ``protocol``, ``config``,
``metrics`` (``valid`` and ``test``, full ranking, keys ``HR@k``, ``NDCG@k``, ``MRR@k`` for
k = 1, 5, 10, 20), ``metrics_with_history`` (the same with seen items kept as candidates),
``test_ranks`` (each evaluated user's 0-based test rank under both protocols, in the order of
``split.eval_users``: for paired comparisons), ``num_users``, ``num_items``,
``num_interactions``, ``epochs_run``,
``seconds_per_epoch`` (mean training time of one epoch, evaluation excluded), ``device``;
and also the popularity baseline under the same protocol, sampled-ranking metrics (labelled),
the per-epoch history and the data summary (which records a synthetic fallback).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from hydrarec_minimal import __version__
from hydrarec_minimal.batches import evaluation_batches, training_batches
from hydrarec_minimal.checkpoint import save_checkpoint
from hydrarec_minimal.course.benchmark import describe_machine
from hydrarec_minimal.course.data_cli import dataset_summary
from hydrarec_minimal.course.outputs import check_output_file
from hydrarec_minimal.course.sampled import SAMPLED_NEGATIVES, sampled_ranks
from hydrarec_minimal.data import PROTOCOL, SequenceDataset
from hydrarec_minimal.metrics import metrics_from_ranks
from hydrarec_minimal.model import ModelConfig, SequentialRecommender
from hydrarec_minimal.train import (
    TrainConfig,
    choose_device,
    evaluation_ranks,
    fit,
    popularity_scorer,
    seed_everything,
)

PROTOCOL_WITH_HISTORY = (
    "The same, except that the user's history items stay among the candidates (RecBole's "
    "default full ranking): a model must learn itself not to recommend what was seen."
)
"""The second protocol reported beside ``PROTOCOL`` (results key ``metrics_with_history``)."""


def describe_protocol(dataset: SequenceDataset) -> str:
    """``PROTOCOL`` prefixed by the dataset (and a synthetic fallback): stored with results."""
    origin = (
        f"SYNTHETIC stand-in for {dataset.name} ({dataset.fallback_reason})"
        if dataset.is_synthetic
        else dataset.name
    )
    return f"{origin}: {dataset.num_users} users, {dataset.num_items} items. {PROTOCOL}"


def enough_negatives(dataset: SequenceDataset, needed: int = SAMPLED_NEGATIVES) -> bool:
    """Does every user have ``needed`` unseen items left to sample as test negatives?"""
    longest = max(len(dataset.split.history(int(u), "test")) for u in dataset.split.eval_users)
    return dataset.num_items - longest - 1 >= needed


def full_ranking(
    score_fn,
    dataset: SequenceDataset,
    config: ModelConfig,
    device: torch.device,
    protocol: str = "full",
) -> tuple[dict[str, dict[str, float]], torch.Tensor]:
    """Full-ranking metrics of ``score_fn`` on the validation and test splits, and the test
    ranks they come from (``user_ranks``), each split scored once."""
    ranks = {
        stage: user_ranks(score_fn, dataset, config, device, protocol, stage)
        for stage in ("valid", "test")
    }
    return {stage: metrics_from_ranks(r) for stage, r in ranks.items()}, ranks["test"]


def user_ranks(
    score_fn,
    dataset: SequenceDataset,
    config: ModelConfig,
    device: torch.device,
    protocol: str = "full",
    stage: str = "test",
) -> torch.Tensor:
    """Long ``(users,)``: the 0-based rank of each evaluated user's target, in the order of
    ``dataset.split.eval_users``."""
    batches = evaluation_batches(dataset, stage, config)
    return evaluation_ranks(score_fn, batches, protocol, device)


def sampled_metrics(
    score_fn, dataset: SequenceDataset, config: ModelConfig, device: torch.device, seed: int
) -> dict[str, dict[str, float]]:
    """Test metrics against 100 uniform and 100 popularity negatives (labelled comparison).

    Empty when the catalogue is too small to draw 100 unseen items for every user.
    """
    if not enough_negatives(dataset):
        return {}
    popularity = torch.as_tensor(dataset.popularity)
    batches = evaluation_batches(dataset, "test", config)
    return {
        f"test, {SAMPLED_NEGATIVES} {sampler} negatives": metrics_from_ranks(
            sampled_ranks(score_fn, batches, dataset.num_items, weights, seed, device)
        )
        for sampler, weights in (("uniform", None), ("popularity", popularity))
    }


def run_experiment(
    dataset: SequenceDataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    checkpoint_path: str | Path | None = None,
    fused_attention: bool = False,
) -> dict[str, Any]:
    """Train one model on ``dataset``, evaluate it and the popularity floor; return the results.

    ``model_config.num_items`` must equal ``dataset.num_items``. Writes a checkpoint of the
    best model to ``checkpoint_path`` if given (checked first: ``UserError``, before any
    training, if it cannot be written). ``fused_attention``: Hydra attention compiled
    (``fast.fused.fused_hydra_attention``), recorded as ``config.model.fused_attention``.
    """
    if model_config.num_items != dataset.num_items:
        raise ValueError(
            f"model_config.num_items={model_config.num_items} but the dataset has "
            f"{dataset.num_items} items"
        )
    if checkpoint_path is not None:
        check_output_file(checkpoint_path, "checkpoint")
    seed_everything(train_config.seed)
    device = choose_device(train_config.device)
    kernel = None
    if fused_attention:
        if model_config.attention != "hydra":
            raise ValueError(f"fused attention is Hydra's only; got {model_config.attention!r}")
        from hydrarec_minimal.fast.fused import fused_hydra_attention

        kernel = fused_hydra_attention
    model = SequentialRecommender(model_config, kernel=kernel).to(device)
    started = time.perf_counter()
    train_batches = training_batches(dataset, model_config, train_config)
    valid_batches = evaluation_batches(dataset, "valid", model_config)
    history = fit(model, train_batches, valid_batches, train_config)
    wall_seconds = time.perf_counter() - started
    both = ("full", "full-with-history")
    ranked = {p: full_ranking(model.score_last, dataset, model_config, device, p) for p in both}
    metrics, with_history = (ranked[p][0] for p in both)
    ranks = {p: ranked[p][1].tolist() for p in both}
    sampled = sampled_metrics(model.score_last, dataset, model_config, device, train_config.seed)
    popularity = popularity_scorer(torch.as_tensor(dataset.popularity))
    floor, floor_with_history = (
        full_ranking(popularity, dataset, model_config, torch.device("cpu"), p)[0] for p in both
    )
    precision = "; bfloat16 mixed precision" if device.type == "cuda" else ""  # train.autocast_for
    results = {
        "dataset": dataset.name,
        "protocol": describe_protocol(dataset),
        "config": {
            # fused_attention beside the model's settings, where results files always had it
            "model": model_config.to_dict() | {"fused_attention": fused_attention},
            "train": asdict(train_config),
        },
        "metrics": metrics,
        "protocol_with_history": PROTOCOL_WITH_HISTORY,
        "metrics_with_history": with_history,
        "test_ranks": ranks,
        "sampled_metrics": sampled,
        "popularity_baseline": floor,
        "popularity_baseline_with_history": floor_with_history,
        "num_users": dataset.num_users,
        "num_items": dataset.num_items,
        "num_interactions": dataset.num_interactions,
        "epochs_run": history.epochs_run,
        "best_epoch": history.best_epoch,
        "seconds_per_epoch": sum(history.seconds_per_epoch) / history.epochs_run,
        "wall_seconds": wall_seconds,
        "device": describe_machine(device) + precision,
        "data": dataset_summary(dataset),
        "history": history.to_dict(),
        "package_version": __version__,
    }
    if checkpoint_path is not None:
        save_checkpoint(model, checkpoint_path, extra={"results": results})
    return results
