"""Benchmark: seconds per training epoch (and peak memory) of causal HydraRec vs SASRec.

    python benchmarks/bench_epoch.py [--lengths 200 1024] [--losses ce ce-chunked bce] \\
        [--users 256] [--repeats 3] [--fused]

Same model size as the course (d = 64, 2 layers, 2 heads for softmax), same data for both:
synthetic users whose histories are exactly ``max_len + 1`` items long (MovieLens is too
short for long windows; only the sequence length matters for the cost), 1,682 items as in
ML-100K, batches of 128. Three losses: the course's full softmax cross-entropy (every
position scores all 1,682 items, work that costs the same for both models), the same loss
computed chunk by chunk without the score matrix (``ce-chunked``, ``fast.chunked_loss``:
the same arithmetic in far fewer passes over memory) and SASRec's binary cross-entropy with
one sampled negative (almost no output work, so attention's share of the epoch is larger).
The two models alternate epoch by epoch, so that a slow moment of the machine hits both; the
best epoch of each is reported. Peak memory is that of one training step
(``hydrarec_minimal.course.benchmark.peak_memory``: tensors allocated through PyTorch, CPU).

SASRec runs twice: with the package's softmax kernel (``is_causal``, no mask: the fair
baseline) and with the square-mask kernel it used before (``square_mask_softmax.py``), so
that one run shows the ratios before and after side by side.

Writes ``benchmarks/results/epoch_<device>.csv`` and prints the ratios (the target: HydraRec no
slower at 200, at least 3x faster at 1,024). ``--fused`` adds a third model, HydraRec with its
attention compiled by ``torch.compile`` (``fast.fused.fused_hydra_attention``; its first epochs
compile, so the warm-up round of ``epoch_seconds_side_by_side`` is not timed), and writes
``epoch_<device>_fused.csv`` instead.

The script restarts itself once with glibc ``malloc`` told to keep freed memory
(``benchmark.steady_allocator``): otherwise page faults on freshly returned memory add noise
of the same size as the differences measured. The machine line it prints says "steady malloc".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from square_mask_softmax import softmax_with_square_mask  # this folder's: the "before" form
from torch.utils.data import DataLoader

from hydrarec_minimal.batches import CausalTrainingSet
from hydrarec_minimal.course.benchmark import describe_machine, peak_memory, steady_allocator
from hydrarec_minimal.course.scaling import (
    build_model,
    epoch_seconds_side_by_side,
    random_histories,
)
from hydrarec_minimal.fast.fused import fused_hydra_attention
from hydrarec_minimal.train import LOSSES, train_one_epoch

RESULTS = Path(__file__).resolve().parent / "results"
HYDRA, FUSED, SASREC = "HydraRec (causal)", "HydraRec (causal, fused)", "SASRec"
SQUARE = "SASRec (square mask)"
MODELS = {
    HYDRA: {"attention": "hydra"},
    SASREC: {"attention": "softmax"},
    SQUARE: {"attention": "softmax", "kernel": softmax_with_square_mask},
}
FUSED_MODEL = {FUSED: {"attention": "hydra", "kernel": fused_hydra_attention}}


def measure(
    max_len: int, loss: str, users: int, repeats: int, device: torch.device, fused: bool
) -> list[dict]:
    histories = list(random_histories(users, max_len + 1).numpy())
    examples = CausalTrainingSet(histories, max_len)
    loader = DataLoader(examples, batch_size=128, collate_fn=examples.collate)
    setups = {}
    for name, settings in (MODELS | FUSED_MODEL if fused else MODELS).items():
        model = build_model(max_len=max_len, **settings).to(device)
        setups[name] = (model, torch.optim.AdamW(model.parameters(), lr=1e-3), loader)
    best = epoch_seconds_side_by_side(setups, rounds=repeats, device=device, loss=loss)
    batch = next(iter(loader))
    rows = []
    for name, (model, optimizer, _) in setups.items():
        peak = peak_memory(
            lambda m=model, o=optimizer: train_one_epoch(m, [batch], o, loss, device, False),
            device=device,
        )
        rows.append(
            {
                "model": name,
                "max_len": max_len,
                "loss": loss,
                "users": users,
                "seconds_per_epoch": best[name],
                "peak_bytes_per_step": peak,
            }
        )
        print(
            f"max_len={max_len:<5} loss={loss:<10} {name:<24} "
            f"{rows[-1]['seconds_per_epoch']:7.2f} s/epoch  "
            f"peak {peak / 2**20:8.1f} MiB per step",
            flush=True,
        )
    return rows


def main() -> None:
    steady_allocator()  # measure the kernels, not page faults (see its docstring)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[200, 1024])
    parser.add_argument("--losses", nargs="+", choices=LOSSES, default=list(LOSSES))
    parser.add_argument("--users", type=int, default=256, help="sequences per epoch (256)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--fused", action="store_true", help="add HydraRec with torch.compile'd attention"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    print(describe_machine(device))
    rows = [
        row
        for loss in args.losses
        for n in args.lengths
        for row in measure(n, loss, args.users, args.repeats, device, args.fused)
    ]
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / f"epoch_{device.type}{'_fused' if args.fused else ''}.csv", index=False)
    for (loss, n), group in table.groupby(["loss", "max_len"], sort=False):
        seconds = group.set_index("model").seconds_per_epoch
        memory = group.set_index("model").peak_bytes_per_step
        for hydra in [name for name in (HYDRA, FUSED) if name in seconds]:
            for sasrec in (SQUARE, SASREC):
                print(
                    f"loss={loss}, max_len={n}: {sasrec} / {hydra} seconds per epoch = "
                    f"{seconds[sasrec] / seconds[hydra]:.2f}x, peak memory per step = "
                    f"{memory[sasrec] / memory[hydra]:.2f}x"
                )


if __name__ == "__main__":
    main()
