"""`evohybrid search`, `evaluate` and `space sample`: evolve architectures, judge one, draw some."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from .. import stop_signals
from ..config import ALGORITHM_NAMES
from ..errors import EvohybridError, GenomeError
from .arguments import (OneLineParser, add_config_flags, add_pool_flags, config_from_args, executor_factory,
                        non_negative_float, positive_float, positive_int)

RESUME_FIXED = (("--config", "config"), ("--space", "space"), ("--dataset", "dataset"), ("--algorithm", "algorithm"),
                ("--seed", "seed"), ("--out", "out"), ("--time-budget", "time_budget"), ("--selection", "selection"),
                ("--screen-signal", "screen_signal"), ("--screen-factor", "screen_factor"),
                ("--no-screen", "no_screen"))


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("search", help="evolve architectures; fitness = accuracy after training BatchNorm only")
    run.add_argument("--budget", type=positive_int, help="distinct architectures to evaluate (default from config: 200)")
    run.add_argument("--time-budget", type=positive_float, metavar="SECONDS",
                     help="propose nothing new after this much wall time (Ray's start included); in-flight "
                          "evaluations finish (default: none)")
    run.add_argument("--algorithm", help=f"one of {', '.join(ALGORITHM_NAMES)} (default: the config's, nsga2)")
    run.add_argument("--selection", choices=("fitness", "ensemble", "noise"),
                     help="what evolution selects on beside size: the fitness, an ensemble of signals' ranks "
                          "(search.ensemble; the default config's), or seeded noise (the ablation) (default: the "
                          "config's search.selection)")
    run.add_argument("--screen-signal", metavar="SIGNAL",
                     help="screen offspring with this zero-cost signal (naswot, synflow, zico, depth) before the "
                          "fitness; needs --screen-factor")
    run.add_argument("--screen-factor", type=positive_int, metavar="K",
                     help="propose K times the offspring and evaluate the best 1/K by the screening signal and size")
    run.add_argument("--no-screen", action="store_true", default=None,
                     help="evaluate every offspring: turns off the config's screening (e.g. --config mnist1d's)")
    run.add_argument("--out", help="run directory to create (default: results/<time>-<algorithm>-<dataset>)")
    run.add_argument("--resume", help="continue the run in this directory")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    add_pool_flags(run)
    run.add_argument("--cpus-per-eval", type=positive_float, default=1.0, help="CPUs per worker (default 1)")
    run.add_argument("--gpus-per-eval", type=non_negative_float,
                     help="GPUs per worker, fractional packs several on one GPU (default: 1 if any GPU, else 0)")
    add_config_flags(run)
    run.set_defaults(func=search_command)

    one = commands.add_parser("evaluate", help="evaluate one genome (JSON file or - for stdin); prints its record")
    one.add_argument("genome", help="path to a genome JSON file, or - to read standard input")
    one.add_argument("--check-space", action="store_true", help="also check that the genome belongs to --space")
    add_config_flags(one)
    one.set_defaults(func=evaluate_command)

    space = commands.add_parser("space", help="inspect search spaces")
    space_commands = space.add_subparsers(dest="space_command", required=True, parser_class=OneLineParser)
    sample = space_commands.add_parser("sample", help="print N random genomes as JSON lines")
    sample.add_argument("n", type=positive_int, nargs="?", default=1)
    sample.add_argument("--space", default="default")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=space_sample_command)


def search_command(args: argparse.Namespace) -> int:
    resuming = args.resume is not None
    if resuming:
        fixed = [flag for flag, name in RESUME_FIXED
                 if (getattr(args, name) != "default" if name == "config" else getattr(args, name) is not None)]
        if fixed:
            raise EvohybridError(f"{fixed[0]} cannot change a run being resumed: drop it (the run's config.json is used)")
    config = None if resuming else config_from_args(args)
    from ..evolution.loop import search
    from ..evolution.store import RunStore
    from ..evolution.pareto import run_chance
    from ..inspection.tables import format_front

    result = search(config, out=args.out, resume=args.resume, budget=args.budget, progress=not args.quiet,
                    executor_factory=executor_factory(args))
    counts = {status: sum(r["status"] == status for r in result.records) for status in ("ok", "failed", "diverged")}
    print(f"\nPareto front ({len(result.front)} of {len(result.records)} evaluations; "
          f"{counts['ok']} ok, {counts['failed']} failed, {counts['diverged']} diverged; {result.wall_s:.0f} s):")
    print(format_front(result.front, run_chance(RunStore.open(result.run_dir))) if result.front
          else "  (no successful evaluation yet)")
    stats = result.executor_stats
    if stats:
        lost = f" ({stats['lost_workers']} lost on the way)" if stats.get("lost_workers") else ""
        print(f"\nworkers: {stats['workers']}{lost}, utilisation {stats['utilisation']:.0%} (busy over wall time)")
    print(f"run directory: {result.run_dir}")
    if result.interrupted:
        print(f"evohybrid: stopped by {stop_signals.signal_name()}: every finished evaluation is saved; resume with "
              f"'evohybrid search --resume {result.run_dir}'", file=sys.stderr)
        return stop_signals.exit_code()
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    from .. import evaluate
    from ..spaces.genome import Genome
    from ..spaces.space import load_space

    text = sys.stdin.read() if args.genome == "-" else _read_text(args.genome)
    genome = Genome.from_json(text)
    config = config_from_args(args)
    load_space(config.space).validate(genome) if args.check_space else None
    print(json.dumps(evaluate(genome, config), sort_keys=True))
    return 0


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise GenomeError(f"cannot read genome file '{path}': {error.strerror}") from None


def space_sample_command(args: argparse.Namespace) -> int:
    from ..spaces.space import load_space

    space = load_space(args.space)
    rng = random.Random(args.seed)
    for _ in range(args.n):
        print(space.sample(rng).to_json())
    return 0
