"""The `evohybrid` command: a thin layer over the Python API. User mistakes exit 2 with one line, no traceback."""

from __future__ import annotations

import argparse
import json
import random
import sys
import warnings
from pathlib import Path
from typing import Callable, NoReturn

from . import evaluate, load_config, load_space, search
from .config import Config
from .executors import Executor
from .errors import EvohybridError, GenomeError
from .genome import Genome
from .pareto import format_front


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line that says what to do."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'")
    return value


def positive_float(text: str) -> float:
    return _float_at_least(text, 0.0, inclusive=False)


def non_negative_float(text: str) -> float:
    return _float_at_least(text, 0.0, inclusive=True)


def _float_at_least(text: str, bound: float, *, inclusive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= bound if inclusive else value > bound):
        kind = "non-negative" if inclusive else "positive"
        raise argparse.ArgumentTypeError(f"must be a {kind} number, got '{text}'")
    return value


def _config_from_args(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    config = config.override(None, seed=args.seed, space=args.space)
    config = config.override("data", dataset=args.dataset, data_dir=args.data_dir)
    if getattr(args, "no_download", False):
        config = config.override("data", download=False)
    return config.override("search", algorithm=getattr(args, "algorithm", None))


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="default", help="config name in configs/ or a YAML path (default: default)")
    parser.add_argument("--space", help="search space name in search_spaces/ or a YAML path")
    parser.add_argument("--dataset", help="fashion-mnist (offline default), mnist, cifar10, cifar100")
    parser.add_argument("--data-dir", help="where data sets are found or downloaded (also EVOHYBRID_DATA)")
    parser.add_argument("--no-download", action="store_true", help="never download a missing data set")
    parser.add_argument("--seed", type=int, help="seed for the split, the weights and the algorithm")


def cmd_search(args: argparse.Namespace) -> int:
    resuming = args.resume is not None
    if resuming:
        fixed = [flag for flag, value in (("--config", args.config != "default"), ("--space", args.space),
                                          ("--dataset", args.dataset), ("--algorithm", args.algorithm),
                                          ("--seed", args.seed is not None), ("--out", args.out)) if value]
        if fixed:
            raise EvohybridError(f"{fixed[0]} cannot change a run being resumed: drop it (the run's config.json is used)")
    config = None if resuming else _config_from_args(args)
    result = search(config, out=args.out, resume=args.resume, budget=args.budget, progress=not args.quiet,
                    executor_factory=_executor_factory(args))
    counts = {status: sum(r["status"] == status for r in result.records) for status in ("ok", "failed", "diverged")}
    print(f"\nPareto front ({len(result.front)} of {len(result.records)} evaluations; "
          f"{counts['ok']} ok, {counts['failed']} failed, {counts['diverged']} diverged; {result.wall_s:.0f} s):")
    print(format_front(result.front) if result.front else "  (no successful evaluation yet)")
    stats = result.executor_stats
    if stats:
        print(f"\nworkers: {stats['workers']}, utilisation {stats['utilisation']:.0%} (busy over wall time)")
    print(f"run directory: {result.run_dir}")
    if result.interrupted:
        print(f"interrupted: resume with 'evohybrid search --resume {result.run_dir}'", file=sys.stderr)
        return 130
    return 0


def _executor_factory(args: argparse.Namespace) -> Callable[[Config], Executor] | None:
    if args.executor == "local":
        if args.address or args.workers or args.gpus_per_eval:
            raise EvohybridError("--address, --workers and --gpus-per-eval need --executor ray")
        return None
    from .ray_executor import RayExecutor, RayOptions

    options = RayOptions(workers=args.workers, cpus_per_eval=args.cpus_per_eval, gpus_per_eval=args.gpus_per_eval,
                         address=args.address)
    return lambda config: RayExecutor(config, options)


def cmd_evaluate(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.genome == "-" else _read_text(args.genome)
    genome = Genome.from_json(text)
    config = _config_from_args(args)
    load_space(config.space).validate(genome) if args.check_space else None
    print(json.dumps(evaluate(genome, config), sort_keys=True))
    return 0


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise GenomeError(f"cannot read genome file '{path}': {error.strerror}") from None


def cmd_space_sample(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    rng = random.Random(args.seed)
    for _ in range(args.n):
        print(space.sample(rng).to_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evohybrid", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = commands.add_parser("search", help="evolve architectures; fitness = accuracy after training BatchNorm only")
    run.add_argument("--budget", type=positive_int, help="distinct architectures to evaluate (default from config: 200)")
    run.add_argument("--algorithm", help="nsga2 (default), aging, random")
    run.add_argument("--out", help="run directory to create (default: results/<time>-<algorithm>-<dataset>)")
    run.add_argument("--resume", help="continue the run in this directory")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--executor", choices=("ray", "local"), default="ray",
                     help="ray: a pool of workers (default); local: one evaluation at a time in this process")
    run.add_argument("--workers", type=positive_int, help="Ray workers (default: CPUs / --cpus-per-eval, or GPUs)")
    run.add_argument("--cpus-per-eval", type=positive_float, default=1.0, help="CPUs per worker (default 1)")
    run.add_argument("--gpus-per-eval", type=non_negative_float,
                     help="GPUs per worker, fractional packs several on one GPU (default: 1 if any GPU, else 0)")
    run.add_argument("--address", help="join a running Ray cluster: 'auto' or host:port (default: start a local Ray)")
    _add_config_flags(run)
    run.set_defaults(func=cmd_search)

    one = commands.add_parser("evaluate", help="evaluate one genome (JSON file or - for stdin); prints its record")
    one.add_argument("genome", help="path to a genome JSON file, or - to read standard input")
    one.add_argument("--check-space", action="store_true", help="also check that the genome belongs to --space")
    _add_config_flags(one)
    one.set_defaults(func=cmd_evaluate)

    space = commands.add_parser("space", help="inspect search spaces")
    space_commands = space.add_subparsers(dest="space_command", required=True, parser_class=OneLineParser)
    sample = space_commands.add_parser("sample", help="print N random genomes as JSON lines")
    sample.add_argument("n", type=positive_int, nargs="?", default=1)
    sample.add_argument("--space", default="default")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=cmd_space_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, *_args, **_kw: f"evohybrid: warning: {message}\n"
    try:
        return args.func(args)
    except EvohybridError as error:
        print(f"evohybrid: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evohybrid: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
