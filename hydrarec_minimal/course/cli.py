"""The command line: ``python -m hydrarec_minimal COMMAND ...`` (also installed as ``hydrarec``).

Each sub-command lives in its own module, which provides ``HELP`` (one line), ``configure(parser)``
(its options) and ``run(args)`` (returns the exit code); ``COMMANDS`` below lists them:

- ``check-attention``: run the four kernels, print their agreement with the reference and
  their timings (a one-minute tour of ``hydrarec_minimal.attention``).
- ``data DATASET [--json]``: find or download a dataset, verify it and print a summary.
- ``train``: train one model (default: causal HydraRec on ML-100K), write ``results.json``.
- ``reproduce``: every kernel x direction x seed, and the comparison table.
- ``search``: one grid of learning rates and batch sizes for every model, chosen on validation.

Bad arguments give a usage message and exit code 2; errors the user can fix (missing data, bad
files) give one clear line and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hydrarec_minimal import __version__
from hydrarec_minimal.course import attention_check, data_cli, reproduce, search, train_cli
from hydrarec_minimal.errors import UserError

#: Command name -> the module that implements it.
COMMANDS = {
    "check-attention": attention_check,
    "data": data_cli,
    "train": train_cli,
    "reproduce": reproduce,
    "search": search,
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m hydrarec_minimal",
        description="HydraRec tutorial companion: Hydra attention for sequential recommendation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = commands.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
        command.set_defaults(run=module.run, parser=command)
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
