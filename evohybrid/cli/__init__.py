"""The `evohybrid` command: a thin layer over the Python API. User mistakes exit 2 with one line, no traceback.

Each command's flags sit beside its handler (`search_commands`, `run_commands`, `study_commands`); the flags that
several share are declared once in `arguments`. Handlers import torch, Ray and matplotlib only when they run, so
`--help` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version

from .. import stop_signals
from ..errors import EvohybridError, ExecutorLost
from . import run_commands, search_commands, study_commands
from .arguments import OneLineParser


def _version() -> str:
    try:
        return version("evohybrid")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evohybrid", description="Neural architecture search: DEAP evolution, BatchNorm-only "
                                                         "fitness, Ray workers.")
    parser.add_argument("--version", action="version", version=f"evohybrid {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in (search_commands, run_commands, study_commands):
        module.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop_signals.install()
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, *_args, **_kw: f"evohybrid: warning: {message}\n"
    try:
        return args.func(args)
    except ExecutorLost as error:  # a fault, not a mistake: the same command can be resumed
        print(f"evohybrid: error: {error}", file=sys.stderr)
        return 1
    except EvohybridError as error:
        print(f"evohybrid: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "stop_hint", "").format(**vars(args))
        print(f"evohybrid: stopped by {stop_signals.signal_name()}" + (f": {hint}" if hint else ""), file=sys.stderr)
        return stop_signals.exit_code()
    except BrokenPipeError:
        # The reader went away (`evohybrid pareto RUN | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
