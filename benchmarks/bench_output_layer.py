"""Benchmark: how much faster than SASRec can HydraRec's epoch be with the full cross-entropy?

    python benchmarks/bench_output_layer.py [--lengths 200 1024] [--users 256] [--repeats 30] \\
        [--target 3] [--chunks 2048]

An epoch has two parts. The output layer, which scores every position against every item and
back-propagates through those scores, does the same work in HydraRec and SASRec; everything
else (embeddings, attention, feed-forward layers, the optimiser) differs. Amdahl's law bounds
the ratio of their epochs by the shared part ``L``:

    SASRec / HydraRec  =  (S + L) / (H + L)

where ``S`` and ``H`` are the epochs without the output layer. ``S`` and ``H`` come from the
sampled-BCE epochs of ``bench_epoch.py`` (``benchmarks/results/epoch_<device>.csv``: BCE scores
two items per position, so its output layer costs next to nothing). ``L`` is measured here at
the course's shapes (d = 64, 1,682 items + the padding column, ``users x max_len`` positions
per epoch) in two ways:

- the floor: only the three matrix products of the full cross-entropy (scores ``h Wᵀ``, then
  ``∂s W`` and ``∂sᵀ h`` for the gradients; blocks of ``losses.CE_CHUNK`` positions), each
  timed alone: no implementation of the full cross-entropy does less arithmetic;
- ``losses.chunked_cross_entropy``, forward and backward: the products plus the softmax, with
  each chunk size of ``--chunks`` (the package's ``CE_CHUNK`` by default).

The target is HydraRec ≥ 3x faster than SASRec at length 1,024; the printed bound says
whether any implementation of the full cross-entropy could get there on this machine.
Writes ``benchmarks/results/output_layer_<device>.csv``.
"""

from __future__ import annotations

import argparse
from functools import partial

import pandas as pd
import torch
from bench_epoch import HYDRA, RESULTS, SASREC  # the epochs' table and its model names

from hydrarec_minimal.course.benchmark import describe_machine, steady_allocator, time_calls
from hydrarec_minimal.course.scaling import NUM_ITEMS
from hydrarec_minimal.fast.chunked_loss import CE_CHUNK, chunked_cross_entropy
from hydrarec_minimal.model import ModelConfig

DIM = ModelConfig.dim  # the course's width, as in bench_epoch.py's models


#: Positions per timed call: a whole number of blocks for every chunk size measured.
SLAB = 8192


def output_layer_seconds_per_position(
    chunks: list[int], repeats: int, device: torch.device
) -> dict[str, float]:
    """Seconds per trained position of the output layer, timed over ``SLAB`` positions.

    Returns:
        ``{"products": ..., "chunked_ce (chunk c)": ...}``: the three matrix products of the
        full cross-entropy (``h Wᵀ``, ``∂s W``, ``∂sᵀ h``, blocks of ``CE_CHUNK`` positions,
        each product timed alone), and ``chunked_cross_entropy`` forward + backward with each
        chunk size in ``chunks``.
    """
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(SLAB, DIM, generator=generator).to(device)  # (m, d)
    weights = torch.randn(NUM_ITEMS + 1, DIM, generator=generator).to(device) * 0.1  # (V, d)
    targets = torch.randint(1, NUM_ITEMS + 1, (SLAB,), generator=generator).to(device)  # (m,)
    block = hidden[:CE_CHUNK]  # (c, d)
    grad_scores = torch.randn(CE_CHUNK, NUM_ITEMS + 1, generator=generator).to(device)  # (c, V)
    trained = [x.clone().requires_grad_() for x in (hidden, weights)]

    def loss_forward_backward(chunk: int) -> tuple[torch.Tensor, ...]:
        loss = chunked_cross_entropy(trained[0], trained[1], None, targets, chunk)
        return torch.autograd.grad(loss, trained)

    calls = {
        "scores": lambda: block @ weights.T,  # (c, V)
        "grad_hidden": lambda: grad_scores @ weights,  # (c, d)
        "grad_weights": lambda: grad_scores.T @ block,  # (V, d)
    } | {f"chunked_ce (chunk {c})": partial(loss_forward_backward, c) for c in chunks}
    timings = time_calls(calls, repeats=repeats, device=device)
    products = sum(timings[name].best for name in ("scores", "grad_hidden", "grad_weights"))
    return {"products": products / CE_CHUNK} | {
        name: timing.best / SLAB for name, timing in timings.items() if name.startswith("chunked")
    }


def amdahl_ratio(sasrec_rest: float, hydra_rest: float, shared: float) -> float:
    """SASRec / HydraRec epoch time when both add the same ``shared`` seconds to their own."""
    return (sasrec_rest + shared) / (hydra_rest + shared)


def largest_shared(ratio: float, sasrec_rest: float, hydra_rest: float) -> float:
    """The most seconds both may share for SASRec / HydraRec to still reach ``ratio``
    (``amdahl_ratio(sasrec_rest, hydra_rest, shared) >= ratio``); negative if out of reach."""
    return (sasrec_rest - ratio * hydra_rest) / (ratio - 1)


def main() -> None:
    steady_allocator()  # as bench_epoch.py: measure the kernels, not page faults
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[200, 1024])
    parser.add_argument("--users", type=int, default=256, help="sequences per epoch (256)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--target", type=float, default=3.0, help="SASRec / HydraRec wanted (3)")
    parser.add_argument(
        "--chunks", type=int, nargs="+", default=[CE_CHUNK], help="chunk sizes to time"
    )
    args = parser.parse_args()
    if any(chunk < 1 or SLAB % chunk for chunk in args.chunks):
        parser.error(f"every chunk size must be a divisor of {SLAB}; got {args.chunks}")
    if args.target <= 1:
        parser.error(f"--target must be above 1; got {args.target}")
    device = torch.device(args.device)
    epochs_csv = RESULTS / f"epoch_{device.type}.csv"
    if not epochs_csv.exists():
        parser.error(f"{epochs_csv} is missing: run bench_epoch.py --losses bce first")
    epochs = pd.read_csv(epochs_csv)
    bce = epochs[epochs.loss == "bce"].set_index(["max_len", "model"]).seconds_per_epoch
    print(describe_machine(device))
    per_position = output_layer_seconds_per_position(args.chunks, args.repeats, device)
    print(
        f"output layer per position ({NUM_ITEMS + 1} items, d = {DIM}): "
        + ", ".join(f"{name} {seconds * 1e9:.0f} ns" for name, seconds in per_position.items())
    )
    rows = []
    for n in args.lengths:
        if (n, SASREC) not in bce or (n, HYDRA) not in bce:
            parser.error(f"{epochs_csv} has no BCE epochs at max_len={n}")
        for name, seconds in per_position.items():
            shared = seconds * args.users * n
            bound = amdahl_ratio(bce[n, SASREC], bce[n, HYDRA], shared)
            allowed = largest_shared(args.target, bce[n, SASREC], bce[n, HYDRA])
            rows.append(
                {
                    "max_len": n,
                    "output_layer": name,
                    "output_seconds_per_epoch": shared,
                    "sasrec_bce_seconds": bce[n, SASREC],
                    "hydrarec_bce_seconds": bce[n, HYDRA],
                    "sasrec_over_hydrarec_at_most": bound,
                    "target": args.target,
                    "output_seconds_allowed_by_target": allowed,
                }
            )
            print(
                f"max_len={n}: output layer ({name}) {shared:.2f} s per epoch of {args.users} "
                f"users; with the BCE epochs of {epochs_csv.name} as the rest "
                f"(SASRec {bce[n, SASREC]:.2f} s, HydraRec {bce[n, HYDRA]:.2f} s), SASRec / "
                f"HydraRec with the full cross-entropy is at most {bound:.2f}x "
                + (
                    f"({args.target:g}x needs the output layer under {allowed:.2f} s)"
                    if allowed > 0
                    else f"({args.target:g}x is out of reach even with a free output layer)"
                )
            )
    pd.DataFrame(rows).to_csv(RESULTS / f"output_layer_{device.type}.csv", index=False)


if __name__ == "__main__":
    main()
