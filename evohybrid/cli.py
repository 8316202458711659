"""The `evohybrid` command: a thin layer over the Python API. User mistakes exit 2 with one line, no traceback."""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import warnings
from pathlib import Path
from typing import Callable, NoReturn

from . import evaluate, load_config, load_space, search, stop_signals
from .config import Config
from .data import DATASETS, UCR_SETS, dataset_holds
from .distributed.executors import Executor
from .distributed.job_pool import PoolOptions
from .errors import EvohybridError, ExecutorLost, GenomeError
from .evolution.algorithms import ALGORITHMS
from .evolution.store import RunStore
from .inspection.pareto import format_front, run_chance
from .spaces.genome import Genome
from .studies.truth import TruthSettings


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line that says what to do."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "positive")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "non-negative")


def _int_at_least(text: str, bound: int, kind: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = bound - 1
    if value < bound:
        raise argparse.ArgumentTypeError(f"must be a {kind} integer, got '{text}'")
    return value


def resolution(text: str) -> int | str:
    """'native' or a positive number of pixels."""
    if text == "native" or (text.isdigit() and int(text) > 0):
        return text if text == "native" else int(text)
    raise argparse.ArgumentTypeError(f"must be 'native' or a positive number of pixels, got '{text}'")


def positive_float(text: str) -> float:
    return _float_at_least(text, 0.0, inclusive=False)


def non_negative_float(text: str) -> float:
    return _float_at_least(text, 0.0, inclusive=True)


def _float_at_least(text: str, bound: float, *, inclusive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or not (value >= bound if inclusive else value > bound):
        kind = "non-negative" if inclusive else "positive"
        raise argparse.ArgumentTypeError(f"must be a {kind} number, got '{text}'")
    return value


def _config_from_args(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    config = config.override(None, seed=args.seed, space=args.space)
    config = config.override("data", dataset=args.dataset, data_dir=args.data_dir)
    if getattr(args, "no_download", False):
        config = config.override("data", download=False)
    return config.override("search", **{key: getattr(args, key, None) for key in (
        "algorithm", "time_budget", "selection", "screen_signal", "screen_factor")})


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="default", help="config name in configs/ or a YAML path (default: default)")
    parser.add_argument("--space", help="search space name in search_spaces/ or a YAML path")
    images = [name for name in DATASETS if dataset_holds(name) == "images"]
    parser.add_argument("--dataset", help=f"images: {', '.join(images)} (fashion-mnist is the offline default; "
                                          "synthetic-cifar10 is random, for timing); series, with --space conv1d: "
                                          f"ucr:<name>, a UCR set bundled with aeon ({', '.join(UCR_SETS)}), or "
                                          "mnist1d, generated offline (best with --config mnist1d)")
    parser.add_argument("--data-dir", help="where data sets are found or downloaded (also EVOHYBRID_DATA)")
    parser.add_argument("--no-download", action="store_true", help="never download a missing data set")
    parser.add_argument("--seed", type=int, help="seed for the split, the weights and the algorithm")


def _add_truth_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("truth (full training of every weight, the promotion recipe)")
    group.add_argument("--truth-epochs", type=positive_int, default=2, help="epochs (default 2)")
    group.add_argument("--truth-seeds", type=positive_int, default=2,
                       help="trainings per architecture; the truth is their mean, two give its noise ceiling (default 2)")
    group.add_argument("--truth-val-size", type=positive_int, default=10_000,
                       help="validation images held out of the training split (default 10000; never the test split)")
    group.add_argument("--truth-train-size", type=positive_int,
                       help="training images (default: all but the validation images)")
    group.add_argument("--truth-resolution", type=positive_int, help="image size (default: the search's)")
    group.add_argument("--truth-lr", type=positive_float, default=0.1, help="learning rate (default 0.1)")


WORKER_TIMEOUT_HELP = ("stop (resumable) when no live node has held a Ray worker this long, e.g. every node but the "
                       "head gone (default 120)")


def _add_pool_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=("ray", "local"), default="ray",
                        help="ray: a pool of workers, one per CPU or GPU (default); local: one at a time in this process")
    parser.add_argument("--workers", type=positive_int, help="Ray workers (default: one per GPU, else one per CPU)")
    parser.add_argument("--address", help="join a running Ray cluster: 'auto' or host:port (default: a local Ray)")
    parser.add_argument("--worker-timeout", type=positive_float, metavar="SECONDS", help=WORKER_TIMEOUT_HELP)


def cmd_search(args: argparse.Namespace) -> int:
    resuming = args.resume is not None
    if resuming:
        fixed = [flag for flag, value in (("--config", args.config != "default"), ("--space", args.space),
                                          ("--dataset", args.dataset), ("--algorithm", args.algorithm),
                                          ("--seed", args.seed is not None), ("--out", args.out),
                                          ("--time-budget", args.time_budget), ("--selection", args.selection),
                                          ("--screen-signal", args.screen_signal),
                                          ("--screen-factor", args.screen_factor)) if value]
        if fixed:
            raise EvohybridError(f"{fixed[0]} cannot change a run being resumed: drop it (the run's config.json is used)")
    config = None if resuming else _config_from_args(args)
    result = search(config, out=args.out, resume=args.resume, budget=args.budget, progress=not args.quiet,
                    executor_factory=_executor_factory(args))
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


def _executor_factory(args: argparse.Namespace) -> Callable[[Config], Executor] | None:
    if args.executor == "local":
        if args.address or args.workers or args.worker_timeout or getattr(args, "gpus_per_eval", None):
            raise EvohybridError("--address, --workers, --worker-timeout and --gpus-per-eval need --executor ray")
        return None
    from .distributed.ray_executor import RayExecutor, RayOptions

    # Flags a command lacks (the studies have no --cpus-per-eval) or left out keep RayOptions' defaults.
    given = {option: getattr(args, flag) for flag, option in (("cpus_per_eval", "cpus_per_eval"),
                                                               ("gpus_per_eval", "gpus_per_eval"),
                                                               ("worker_timeout", "worker_timeout_s"))
             if getattr(args, flag, None) is not None}
    options = RayOptions(workers=args.workers, address=args.address, **given)
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


def comma_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be evaluation ids separated by commas, e.g. 3,17, got '{text}'") from None


def comma_positive_ints(text: str) -> tuple[int, ...]:
    return tuple(positive_int(part) for part in text.split(","))


def comma_positive_floats(text: str) -> tuple[float, ...]:
    return tuple(positive_float(part) for part in text.split(","))


def cmd_pareto(args: argparse.Namespace) -> int:
    from .inspection.pareto import format_rows, front_rows, pareto_fronts

    store = RunStore.open(args.run)
    fronts = pareto_fronts(store.records(), args.fronts)
    if not fronts and args.format == "table":
        print(f"no successful evaluation in '{args.run}' yet")
        return 0
    print(format_rows(front_rows(fronts, run_chance(store)), args.format))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .inspection.report import write_report

    for path in write_report(args.runs):
        print(path)
    return 0


# PromoteOptions fields set by `evohybrid promote` flags (argparse dest = field), and the flag that sets each.
PROMOTE_RECIPE_FLAGS = {"epochs": "--epochs", "batch_size": "--batch-size", "lrs": "--lr", "resolution": "--resolution",
                        "train_size": "--train-size", "label_smoothing": "--label-smoothing",
                        "cpus_per_trial": "--cpus-per-trial", "gpus_per_trial": "--gpus-per-trial",
                        "max_failures": "--max-failures"}


def cmd_promote(args: argparse.Namespace) -> int:
    from .training.promote import PromoteOptions, promote
    from .training.promoted import format_promoted

    given = {name: getattr(args, name) for name in PROMOTE_RECIPE_FLAGS if getattr(args, name) is not None}
    if args.resume and given:
        raise EvohybridError(f"{PROMOTE_RECIPE_FLAGS[next(iter(given))]} cannot change a promotion being resumed: "
                             "drop it (only --address can)")
    result = promote(args.run, ids=args.ids, top=args.top, front=args.front, knee=args.knee, resume=args.resume,
                     options=PromoteOptions(address=args.address, **given))
    if result.skipped:
        print(f"already promoted, not trained again: {', '.join(map(str, result.skipped))} "
              f"(delete {result.run_dir}/promoted/<id> to train one again)", file=sys.stderr)
    print(format_promoted(result.rows, result.tau) if result.rows else "no promoted model yet")
    print(f"outputs: {result.run_dir / 'promoted'}")
    for failure in result.failures:
        print(f"evohybrid: warning: {failure}", file=sys.stderr)
    if result.interrupted:
        print(f"evohybrid: stopped by {stop_signals.signal_name()}: resume with 'evohybrid promote {args.run} --resume'",
              file=sys.stderr)
        return stop_signals.exit_code()
    return 1 if result.failures else 0


def cmd_export(args: argparse.Namespace) -> int:
    from .inspection.export import export_model

    print(export_model(args.run, args.id, args.out, level=args.level))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from .training.lottery import LotterySettings, lottery_dir, prune
    from .training.promoted import model_dir

    results = prune(args.run, args.id, LotterySettings(levels=args.levels, rate=args.rate, rewind=args.rewind,
                                                       layerwise=args.layerwise), log=_log_line)
    print(f"{'level':>5}  {'pruned':>7}  {'weights':>9}  {'val_acc':>7}  {'test_acc':>8}  {'train_s':>7}")
    for row in results:
        name = "ctrl" if row["control"] else row["level"]
        print(f"{name:>5}  {row['sparsity']:>7.1%}  {row['weights_left']:>9,}  {row['val_acc']:>7.4f}  "
              f"{row['test_acc']:>8.4f}  {row['train_s']:>7.0f}")
    print(f"(ctrl: the last level's mask on fresh random weights)\noutputs: {lottery_dir(model_dir(args.run, args.id))}")
    return 0


def _truth_settings(args: argparse.Namespace) -> TruthSettings:
    return TruthSettings(epochs=args.truth_epochs, lr=args.truth_lr, seeds=args.truth_seeds,
                         val_size=args.truth_val_size, train_size=args.truth_train_size,
                         resolution=args.truth_resolution)


def _pool_options(args: argparse.Namespace) -> PoolOptions:
    if args.executor == "local" and args.workers not in (None, 1):
        raise EvohybridError("--workers needs the Ray executor: drop it, or drop --executor local")
    if args.executor == "local" and args.worker_timeout is not None:
        raise EvohybridError("--worker-timeout needs the Ray executor: drop it, or drop --executor local")
    timeout = {} if args.worker_timeout is None else {"worker_timeout_s": args.worker_timeout}
    return PoolOptions(executor=args.executor, workers=args.workers, address=args.address, **timeout)


def _log_line(line: str) -> None:
    print(line, flush=True)  # a long study's log file shows each measurement as it finishes


def cmd_study_proxy(args: argparse.Namespace) -> int:
    from .studies.proxy_study import run_study
    from .studies.analysis import format_summary

    config = _config_from_args(args)
    summary = run_study(args.out, config, n=args.n, truth=_truth_settings(args), proxy_seeds=args.proxy_seeds,
                        pool=_pool_options(args), log=_log_line)
    if not summary["n"]:
        print("no architecture has a complete truth yet: run the same command again to continue")
        return 0
    print(f"\nrank agreement with full training over {summary['n']} architectures (truth: {args.truth_epochs} "
          f"epochs x {args.truth_seeds} seeds, mean val acc {summary['truth']['mean_val_acc']:.3f}):")
    print(format_summary(summary))
    print(f"\nstudy directory: {args.out}")
    return 0


def cmd_study_summary(args: argparse.Namespace) -> int:
    from .studies.proxy_study import STUDY_FILE, write_study_summary
    from .studies.analysis import format_summary

    settings = Path(args.study) / STUDY_FILE
    if not settings.is_file():
        raise EvohybridError(f"'{args.study}' holds no proxy study ({STUDY_FILE}): run 'evohybrid study proxy' first")
    summary = write_study_summary(Path(args.study), json.loads(settings.read_text()).get("truth_seeds"))
    print(f"rank agreement with full training over {summary['n']} architectures with a complete truth:")
    print(format_summary(summary))
    print(f"\nwritten: {Path(args.study) / 'summary.json'}")
    return 0


def cmd_study_recipe(args: argparse.Namespace) -> int:
    from .studies.proxy_study import run_recipe_study
    from .studies.analysis import format_summary
    from .yaml_files import read_yaml, resolve_yaml

    variants = read_yaml(resolve_yaml(args.recipes, Path(args.study), "recipes"), "recipes")
    if not isinstance(variants, dict) or not variants:
        raise EvohybridError(f"'{args.recipes}' must map recipe names to overrides, e.g. 'steps-80: {{fitness: {{steps: 80}}}}'")
    summary = run_recipe_study(args.study, variants)
    print(f"\nrank correlation with the study's truth over {summary['n']} architectures:")
    print(format_summary(summary))
    print(f"\nwritten: {Path(args.study) / 'recipes.json'}")
    return 0


def cmd_study_algorithms(args: argparse.Namespace) -> int:
    from .studies.algorithm_study import format_algorithms, format_bands, study_algorithms

    summary = study_algorithms(args.runs, args.out, top=args.promote_top, front=args.promote_front,
                               truth=_truth_settings(args), pool=_pool_options(args), log=_log_line,
                               measure=not args.measured_only, bands=args.bands or (), reference=args.reference,
                               hv_accuracy=args.true_hv_accuracy)
    print(format_algorithms(summary))
    if "bands" in summary:
        print(f"\nthe pick of each search in each size band, judged by full training:\n{format_bands(summary)}")
    print(f"\nstudy directory: {args.out}")
    return 0


def cmd_study_timeseries(args: argparse.Namespace) -> int:
    from .studies.timeseries_study import TimeseriesSettings, format_timeseries, run_timeseries_study

    settings = TimeseriesSettings(**{name: value for name, value in (
        ("sets", tuple(args.sets.split(",")) if args.sets else None), ("budget", args.budget),
        ("epochs", args.epochs), ("batch_size", args.batch_size), ("refit_seeds", args.refit_seeds),
        ("promote_top", args.promote_top))
        if value is not None})
    summary = run_timeseries_study(args.out, settings, executor_factory=_executor_factory(args), log=_log_line)
    print(format_timeseries(summary))
    print(f"\nstudy directory: {args.out}")
    return 0


STUDY_STOP_HINT = "every finished measurement is saved; run the same command again to continue"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evohybrid", description="Neural architecture search: DEAP evolution, BatchNorm-only fitness, Ray workers.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = commands.add_parser("search", help="evolve architectures; fitness = accuracy after training BatchNorm only")
    run.add_argument("--budget", type=positive_int, help="distinct architectures to evaluate (default from config: 200)")
    run.add_argument("--time-budget", type=positive_float, metavar="SECONDS",
                     help="propose nothing new after this much wall time (Ray's start included); in-flight "
                          "evaluations finish (default: none)")
    run.add_argument("--algorithm", help=f"one of {', '.join(ALGORITHMS)} (default: the config's, nsga2)")
    run.add_argument("--selection", choices=("fitness", "ensemble", "noise"),
                     help="what evolution selects on beside size: the fitness (default), an ensemble of signals' "
                          "ranks (search.ensemble), or seeded noise (the ablation)")
    run.add_argument("--screen-signal", metavar="SIGNAL",
                     help="screen offspring with this zero-cost signal (naswot, synflow, zico, depth) before the "
                          "fitness; needs --screen-factor")
    run.add_argument("--screen-factor", type=positive_int, metavar="K",
                     help="propose K times the offspring and evaluate the best 1/K by the screening signal and size")
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
    run.add_argument("--worker-timeout", type=positive_float, metavar="SECONDS", help=WORKER_TIMEOUT_HELP)
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

    pareto = commands.add_parser("pareto", help="the Pareto front of a run (accuracy up, parameters down), knee and "
                                                "members at or below chance marked")
    pareto.add_argument("run", help="a run directory written by 'evohybrid search'")
    pareto.add_argument("--fronts", type=positive_int, default=1, help="how many non-dominated fronts (default 1)")
    pareto.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    pareto.set_defaults(func=cmd_pareto)

    report = commands.add_parser("report", help="figures and a self-contained report.html in the first run's folder")
    report.add_argument("runs", nargs="+", metavar="RUN", help="run directories; later ones join the hypervolume plot")
    report.set_defaults(func=cmd_report)

    promote = commands.add_parser("promote", help="train chosen architectures fully (all weights) with Ray Tune")
    promote.add_argument("run", help="a run directory written by 'evohybrid search'")
    choice = promote.add_mutually_exclusive_group(required=True)
    choice.add_argument("--top", type=positive_int, help="the K evaluations of highest proxy accuracy")
    choice.add_argument("--ids", type=comma_ids, help="evaluation ids, e.g. 3,17")
    choice.add_argument("--front", action="store_true", help="every evaluation on the Pareto front")
    choice.add_argument("--knee", action="store_true",
                        help="the knee of the Pareto front, as 'evohybrid pareto' marks it (never a network at or "
                             "below chance)")
    choice.add_argument("--resume", action="store_true", help="finish the run's latest promotion")
    promote.add_argument("--epochs", type=positive_int, help="training epochs (default 15)")
    promote.add_argument("--resolution", type=resolution,
                         help="image size to train at: 'native' (the data set's own, default) or pixels, e.g. 16")
    promote.add_argument("--label-smoothing", type=non_negative_float,
                         help="weight of the uniform target in the loss, e.g. 0.1 (default 0)")
    promote.add_argument("--train-size", type=positive_int,
                         help="training images, for a quick look (default: all but the search's validation slice)")
    promote.add_argument("--batch-size", type=positive_int, help="images per step (default 128)")
    promote.add_argument("--lr", dest="lrs", type=comma_positive_floats,
                         help="learning rates, one trial each, the best validation accuracy kept (default 0.1)")
    promote.add_argument("--cpus-per-trial", type=positive_float, help="CPUs per trial (default 1)")
    promote.add_argument("--gpus-per-trial", type=non_negative_float, help="GPUs per trial (default: 1 if any GPU)")
    promote.add_argument("--address", help="join a running Ray cluster: 'auto' or host:port (default: a local Ray)")
    promote.add_argument("--max-failures", type=int,
                         help="restarts of a crashed trial from its last checkpoint (default 2; -1: no limit)")
    promote.set_defaults(func=cmd_promote, stop_hint="resume with 'evohybrid promote {run} --resume'")

    export = commands.add_parser("export", help="write a promoted model as one standalone file")
    export.add_argument("run", help="a run directory written by 'evohybrid search'")
    export.add_argument("id", type=int, help="the evaluation id of a promoted model")
    export.add_argument("--out", required=True, help="the file to write, e.g. model.pt")
    export.add_argument("--level", type=non_negative_int,
                        help="a pruning level written by 'evohybrid prune' (default: the dense promoted model)")
    export.set_defaults(func=cmd_export)

    prune = commands.add_parser("prune", help="lottery tickets of a promoted model: iterative magnitude pruning with "
                                              "weight rewinding, and a random-reinitialisation control")
    prune.add_argument("run", help="a run directory written by 'evohybrid search'")
    prune.add_argument("id", type=int, help="the evaluation id of a promoted model")
    prune.add_argument("--levels", type=int, default=8,
                       help="pruning rounds after the dense level 0 (default 8: 17%% of the weights left at --rate 0.2)")
    prune.add_argument("--rate", type=float, default=0.2, help="fraction of the remaining weights removed per level "
                                                               "(default 0.2)")
    prune.add_argument("--rewind", default="1ep",
                       help="where survivors rewind to: <N>ep (epochs), <N>it (steps) or 0 (initial weights; "
                            "default 1ep)")
    prune.add_argument("--layerwise", action="store_true",
                       help="remove the same fraction in every layer (default: the smallest weights over all layers)")
    prune.set_defaults(func=cmd_prune, stop_hint="finished levels are kept; run the same command again to continue")
    study = commands.add_parser("study", help="measure the fitness signal")
    study_commands = study.add_subparsers(dest="study_command", required=True, parser_class=OneLineParser)
    proxy = study_commands.add_parser("proxy", help="rank correlation of every proxy with full training")
    proxy.add_argument("--n", type=positive_int, default=40,
                       help="architectures, spread over the parameter range; a larger --n grows the study in --out, "
                            "keeping what it measured")
    proxy.add_argument("--out", required=True, help="study directory (created, or resumed when it holds this study)")
    _add_truth_flags(proxy)
    proxy.add_argument("--proxy-seeds", type=positive_int, default=2,
                       help="weight seeds per signal; a second one measures each signal's repeatability (default 2)")
    _add_pool_flags(proxy)
    _add_config_flags(proxy)
    proxy.set_defaults(func=cmd_study_proxy, stop_hint=STUDY_STOP_HINT)
    summary = study_commands.add_parser("summary", help="analyse what a proxy study measured so far (no measuring)")
    summary.add_argument("study", help="a directory written by 'evohybrid study proxy'")
    summary.set_defaults(func=cmd_study_summary)
    recipe = study_commands.add_parser("recipe", help="rank correlation of fitness recipes against a proxy study's truth")
    recipe.add_argument("study", help="a directory written by 'evohybrid study proxy'")
    recipe.add_argument("--recipes", required=True,
                        help="YAML file (or a name in the study directory) mapping recipe names to data/fitness overrides")
    recipe.set_defaults(func=cmd_study_recipe, stop_hint=STUDY_STOP_HINT)
    algorithms = study_commands.add_parser("algorithms", help="hypervolume against evaluations of searches over seeds")
    algorithms.add_argument("runs", nargs="+", metavar="RUN",
                            help="run directories, one per algorithm and seed, otherwise the same settings")
    algorithms.add_argument("--out", required=True, help="where algorithms.json, hypervolume.png and truth.jsonl go")
    algorithms.add_argument("--promote-top", type=non_negative_int, default=0,
                            help="measure the truth of each run's K best architectures by proxy")
    algorithms.add_argument("--promote-front", type=non_negative_int, default=0,
                            help="measure the truth of up to K members of each run's front, spread along it; adds the "
                                 "true hypervolume and the best true accuracy at 100k parameters or fewer")
    algorithms.add_argument("--bands", type=comma_positive_ints, metavar="LIMITS",
                            help="parameter limits, e.g. 10000,30000,100000,300000: measure the truth of each run's "
                                 "best network at or below each by its own fitness (and random search's largest), "
                                 "compared with the reference search paired by seed")
    algorithms.add_argument("--reference", metavar="LABEL",
                            help="the search the others are compared with, by its label in the table (default: the "
                                 "first run's)")
    algorithms.add_argument("--true-hv-accuracy", type=positive_float, metavar="ACCURACY",
                            help="also give each true hypervolume from this accuracy up, e.g. 0.7 (it is always "
                                 "given from 0 and from chance)")
    algorithms.add_argument("--measured-only", action="store_true",
                            help="train nothing: analyse the truth measured so far (a study stopped part-way)")
    _add_truth_flags(algorithms)
    _add_pool_flags(algorithms)
    algorithms.set_defaults(func=cmd_study_algorithms, stop_hint=STUDY_STOP_HINT)
    series = study_commands.add_parser("timeseries", help="conv1d search winners against MiniRocket and an ELM on the "
                                                          "UCR sets bundled with aeon")
    series.add_argument("--out", required=True, help="study directory (created, or resumed)")
    series.add_argument("--sets", help=f"comma-separated UCR sets (default: all of {', '.join(UCR_SETS)})")
    series.add_argument("--budget", type=positive_int, help="architectures per search (default 100)")
    series.add_argument("--epochs", type=positive_int, help="promotion epochs (default 200)")
    series.add_argument("--batch-size", type=positive_int, help="promotion batch (default 16)")
    series.add_argument("--promote-top", type=positive_int,
                        help="architectures promoted per set, the best by proxy; the best of them by validation "
                             "accuracy after promotion is the set's winner (default 3)")
    series.add_argument("--refit-seeds", type=non_negative_int,
                        help="trainings of the winner and of MiniRocket on the whole training split (default 3; "
                             "0: no refit)")
    _add_pool_flags(series)
    series.set_defaults(func=cmd_study_timeseries, stop_hint=STUDY_STOP_HINT)
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


if __name__ == "__main__":
    sys.exit(main())
