"""The command line: ``python -m hydrarec_minimal COMMAND ...`` (also installed as ``hydrarec``).

Each sub-command lives in its own module and registers itself here through ``add_parser``:

- ``check-attention``: run the four kernels, print their agreement with the reference and
  their timings (a one-minute tour of ``hydrarec_minimal.attention``).
- ``data DATASET [--json]``: find or download a dataset, verify it and print a summary.
- ``train``: train one model (default: causal HydraRec on ML-100K), write ``results.json``.
- ``reproduce``: every kernel x direction x seed, and the comparison table.

Bad arguments give a usage message and exit code 2; errors the user can fix (missing data, bad
files) give one clear line and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hydrarec_minimal import __version__, attention_check, data_cli, reproduce, train_cli
from hydrarec_minimal.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m hydrarec_minimal",
        description="HydraRec tutorial companion: Hydra attention for sequential recommendation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    attention_check.add_parser(commands)
    data_cli.add_parser(commands)
    train_cli.add_parser(commands)
    reproduce.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
