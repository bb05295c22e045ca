"""Training and evaluation: AdamW, early stopping on validation NDCG@10, full ranking.

One loop trains both directions: the loss is taken wherever a ``TrainBatch`` target is not 0.
Losses: ``"ce"`` cross-entropy over all items, ``"ce-chunked"`` the same without the score
matrix (``fast.chunked_loss``), ``"bce"`` one sampled negative per position (SASRec).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from hydrarec_minimal.batches import EvalBatch, TrainBatch, check_range, model_input
from hydrarec_minimal.fast.chunked_loss import chunked_cross_entropy
from hydrarec_minimal.metrics import exclude_history, full_ranking_ranks, metrics_from_ranks
from hydrarec_minimal.model import SequentialRecommender

if TYPE_CHECKING:
    from hydrarec_minimal.data import SequenceDataset

LOSSES = ("ce", "ce-chunked", "bce")
#: "full": all items but the user's history; "full-with-history": all items (RecBole's default)
PROTOCOLS = ("full", "full-with-history")


@dataclass
class TrainConfig:
    """How to train; the defaults are causal HydraRec's best on ML-100K's validation split.

    ``patience``: epochs without a better validation NDCG@10 before stopping; ``mask_prob``,
    ``last_item_prob``: cloze only (``ClozeTrainingSet``); ``device``: "auto"
    (``choose_device``) or a torch device. ``ValueError`` for values out of range.
    """

    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    patience: int = 10
    loss: str = "ce"
    mask_prob: float = 0.2
    last_item_prob: float = 0.0
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {LOSSES}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be at least 1")
        check_range("mask_prob", self.mask_prob, 0, 1, open_low=True)
        check_range("last_item_prob", self.last_item_prob, 0, 1)


@dataclass
class TrainHistory:
    """What happened during ``fit``: one entry per epoch, and the best epoch (1-based)."""

    train_loss: list[float] = field(default_factory=list)
    valid_metrics: list[dict[str, float]] = field(default_factory=list)
    seconds_per_epoch: list[float] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return asdict(self) | {"epochs_run": self.epochs_run}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch, and ask PyTorch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def choose_device(requested: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, then Apple's MPS, then the CPU; otherwise as requested."""
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def sequence_loss(
    model: SequentialRecommender, inputs: Tensor, targets: Tensor, loss: str = "ce"
) -> Tensor:
    """Mean ``loss`` over the positions whose target (long ``(batch, n)``) is not 0."""
    has_target = targets != 0
    hidden, targets = model.encode(inputs)[has_target], targets[has_target]
    if loss == "ce":
        return F.cross_entropy(model.score(hidden).float(), targets)
    if loss == "ce-chunked":
        return chunked_cross_entropy(hidden, *model.output_layer(), targets)
    negatives = torch.randint(1, model.config.num_items + 1, targets.shape, device=targets.device)
    candidates = torch.stack([targets, negatives])  # (2, m): positives, then negatives
    logits = (hidden * model.item_embedding.weight[candidates]).sum(-1)
    if model.item_bias is not None:
        logits = logits + model.item_bias[candidates]
    labels = torch.zeros_like(logits)
    labels[0] = 1
    return F.binary_cross_entropy_with_logits(logits.flatten().float(), labels.flatten().float())


def autocast_for(device: torch.device):
    """Mixed precision (bfloat16) on CUDA; a no-op context elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def train_one_epoch(
    model: SequentialRecommender,
    batches: Iterable[TrainBatch],
    optimizer: torch.optim.Optimizer,
    loss: str,
    device: torch.device,
    progress: bool = True,
    description: str = "train",
) -> float:
    """One pass over ``batches``; returns the mean loss."""
    model.train()
    total, count = 0.0, 0
    for batch in tqdm(batches, desc=description, leave=False, disable=None if progress else True):
        inputs, targets = batch.inputs.to(device), batch.targets.to(device)
        with autocast_for(device):
            value = sequence_loss(model, inputs, targets, loss)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        total += value.item()
        count += 1
    return total / max(count, 1)


@torch.no_grad()
def evaluation_ranks(
    score_fn: Callable[[Tensor], Tensor],
    batches: Iterable[EvalBatch],
    protocol: str = "full",
    device: torch.device | str = "cpu",
) -> Tensor:
    """Long ``(users,)``: each evaluated user's 0-based target rank among all items, in batch
    order. ``score_fn``: inputs ``(batch, n)`` -> scores ``(batch, num_items + 1)``, e.g.
    ``model.score_last``; ``protocol``: one of ``PROTOCOLS``, else ``ValueError``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    ranks = []
    for batch in batches:
        scores = score_fn(batch.inputs.to(device)).float().cpu()
        history = batch.exclude if protocol == "full" else batch.exclude[:, :0]  # padding: out
        ranks.append(full_ranking_ranks(scores, history, batch.targets))
    return torch.cat(ranks)


def evaluate(
    score_fn: Callable[[Tensor], Tensor],
    batches: Iterable[EvalBatch],
    protocol: str = "full",
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """``{"HR@10": ..., ...}``: ``metrics_from_ranks`` of ``evaluation_ranks``."""
    return metrics_from_ranks(evaluation_ranks(score_fn, batches, protocol, device))


def popularity_scorer(popularity: Tensor) -> Callable[[Tensor], Tensor]:
    """A "model" recommending the most popular items: ``popularity`` (num_items + 1,) training
    counts -> a function from inputs ``(batch, n)`` to scores ``(batch, num_items + 1)``."""
    scores = popularity.double().clone()
    scores[0] = float("-inf")
    return lambda inputs: scores.expand(inputs.shape[0], -1)


def fit(
    model: SequentialRecommender,
    train_batches: Iterable[TrainBatch],
    valid_batches: Iterable[EvalBatch],
    config: TrainConfig,
    on_epoch: Callable[[int, float, dict[str, float]], None] | None = None,
) -> TrainHistory:
    """Train with AdamW and early stopping on validation NDCG@10; restore the best weights.

    ``model`` is on its device; ``on_epoch(epoch, train_loss, valid_metrics)`` after each epoch.
    """
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    history = TrainHistory()
    best_ndcg, best_state, waited = -1.0, None, 0
    quiet = None if config.progress else True  # None: bars only when output is a terminal
    epochs = tqdm(range(1, config.epochs + 1), desc="epochs", disable=quiet)

    for epoch in epochs:
        start = time.perf_counter()
        loss = train_one_epoch(
            model, train_batches, optimizer, config.loss, device, config.progress
        )
        history.seconds_per_epoch.append(time.perf_counter() - start)
        model.eval()
        metrics = evaluate(model.score_last, valid_batches, device=device)
        history.train_loss.append(loss)
        history.valid_metrics.append(metrics)
        epochs.set_postfix(loss=f"{loss:.3f}", valid_ndcg10=f"{metrics['NDCG@10']:.4f}")
        if on_epoch is not None:
            on_epoch(epoch, loss, metrics)
        if metrics["NDCG@10"] > best_ndcg:
            best_ndcg, waited, history.best_epoch = metrics["NDCG@10"], 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def score_items(
    model: SequentialRecommender, history: np.ndarray, exclude: np.ndarray | None = None
) -> Tensor:
    """Scores ``(num_items + 1,)`` after ``history`` (oldest first, cut to ``max_len``); the
    items of ``exclude`` (default: ``history``) and padding score ``-inf``."""
    config = model.config
    mask_token = None if config.causal else config.mask_token
    inputs = torch.as_tensor(model_input(history, config.max_len, mask_token))[None]
    model.eval()
    scores = model.score_last(inputs.to(next(model.parameters()).device)).float().cpu()
    exclude = history if exclude is None else exclude
    no_target = torch.zeros(1, dtype=torch.int64)  # column 0: padding, -inf anyway
    return exclude_history(scores, torch.as_tensor(exclude, dtype=torch.int64)[None], no_target)[0]


def recommend(
    model: SequentialRecommender, dataset: SequenceDataset, user: int, k: int = 10
) -> np.ndarray:
    """The ``k`` best unseen item ids for user index ``user``, best first. ``IndexError``: no
    such user."""
    if not 0 <= user < dataset.num_users:
        raise IndexError(f"user must be in 0..{dataset.num_users - 1}; got {user}")
    scores = score_items(model, dataset.sequences[user])
    top = scores.topk(min(k, int(torch.isfinite(scores).sum())))
    return top.indices.numpy()
