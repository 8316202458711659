"""`evohybrid pareto`, `report`, `promote`, `export`, `prune` and `cross-validate`: what a user does with a finished
search."""

from __future__ import annotations

import argparse
import sys

from .. import stop_signals
from ..errors import EvohybridError
from .arguments import (STUDY_STOP_HINT, add_address_flag, add_pool_flags, comma_positive_floats, log_line,
                        non_negative_float, non_negative_int, pool_options, positive_float, positive_int, shift_fraction)

RUN_HELP = "a run directory written by 'evohybrid search'"
# PromoteOptions fields set by `evohybrid promote` flags (argparse dest = field), and the flag that sets each.
PROMOTE_RECIPE_FLAGS = {"epochs": "--epochs", "batch_size": "--batch-size", "lrs": "--lr", "resolution": "--resolution",
                        "train_size": "--train-size", "label_smoothing": "--label-smoothing", "shift": "--shift",
                        "cpus_per_trial": "--cpus-per-trial", "gpus_per_trial": "--gpus-per-trial",
                        "max_failures": "--max-failures"}


def comma_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be evaluation ids separated by commas, e.g. 3,17, got '{text}'") from None


def ensemble_size(text: str) -> int:
    """The members of an ensemble: two or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"an ensemble needs at least 2 members, got '{text}'")
    return value


def ensemble_ids(text: str) -> list[int]:
    """Two or more evaluation ids separated by commas."""
    ids = list(dict.fromkeys(comma_ids(text)))
    if len(ids) < 2:
        raise argparse.ArgumentTypeError(f"an ensemble needs at least 2 distinct ids, e.g. 3,17, got '{text}'")
    return ids


def resolution(text: str) -> int | str:
    """'native' or a positive number of pixels."""
    if text == "native" or (text.isdigit() and int(text) > 0):
        return text if text == "native" else int(text)
    raise argparse.ArgumentTypeError(f"must be 'native' or a positive number of pixels, got '{text}'")


def add_commands(commands: argparse._SubParsersAction) -> None:
    pareto = commands.add_parser("pareto", help="the Pareto front of a run (accuracy up, parameters down), knee and "
                                                "members at or below chance marked")
    pareto.add_argument("run", help=RUN_HELP)
    pareto.add_argument("--fronts", type=positive_int, default=1, help="how many non-dominated fronts (default 1)")
    pareto.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    pareto.set_defaults(func=pareto_command)

    report = commands.add_parser("report", help="figures and a self-contained report.html in the first run's folder")
    report.add_argument("runs", nargs="+", metavar="RUN", help="run directories; later ones join the hypervolume plot")
    report.set_defaults(func=report_command)

    promote = commands.add_parser("promote", help="train chosen architectures fully (all weights) with Ray Tune")
    promote.add_argument("run", help=RUN_HELP)
    choice = promote.add_mutually_exclusive_group(required=True)
    choice.add_argument("--top", type=positive_int, help="the K evaluations of highest proxy accuracy")
    choice.add_argument("--ids", type=comma_ids, help="evaluation ids, e.g. 3,17")
    choice.add_argument("--front", action="store_true", help="every evaluation on the Pareto front")
    choice.add_argument("--knee", action="store_true",
                        help="the knee of the Pareto front, as 'evohybrid pareto' marks it (never a network at or "
                             "below chance)")
    choice.add_argument("--ensemble", type=ensemble_size, metavar="N",
                        help="the N evaluations of highest proxy accuracy, then the ensemble that averages their logits "
                             "(its size: the sum of theirs)")
    choice.add_argument("--resume", action="store_true", help="finish the run's latest promotion")
    promote.add_argument("--max-params", type=positive_int,
                         help="choose the top, front, knee or ensemble among evaluations of at most this many "
                              "parameters (default: any size)")
    promote.add_argument("--epochs", type=positive_int, help="training epochs (default 15)")
    promote.add_argument("--resolution", type=resolution,
                         help="image size to train at: 'native' (the data set's own, default) or pixels, e.g. 16")
    promote.add_argument("--label-smoothing", type=non_negative_float,
                         help="weight of the uniform target in the loss, e.g. 0.1 (default 0)")
    promote.add_argument("--shift", type=shift_fraction, metavar="FRACTION",
                         help="series: shift each training series by up to this fraction of its length, e.g. 0.1, "
                              "where a shifted series keeps its class (default 0: none)")
    promote.add_argument("--train-size", type=positive_int,
                         help="training images, for a quick look (default: all but the search's validation slice)")
    promote.add_argument("--batch-size", type=positive_int, help="images per step (default 128)")
    promote.add_argument("--lr", dest="lrs", type=comma_positive_floats,
                         help="learning rates, one trial each, the best validation accuracy kept (default 0.1)")
    promote.add_argument("--cpus-per-trial", type=positive_float, help="CPUs per trial (default 1)")
    promote.add_argument("--gpus-per-trial", type=non_negative_float, help="GPUs per trial (default: 1 if any GPU)")
    add_address_flag(promote)
    promote.add_argument("--max-failures", type=int,
                         help="restarts of a crashed trial from its last checkpoint (default 2; -1: no limit)")
    promote.set_defaults(func=promote_command, stop_hint="resume with 'evohybrid promote {run} --resume'")

    export = commands.add_parser("export", help="write a promoted model as one standalone file")
    export.add_argument("run", help=RUN_HELP)
    export.add_argument("id", type=int, nargs="?", help="the evaluation id of a promoted model")
    export.add_argument("--ensemble", type=ensemble_ids, metavar="IDS",
                        help="instead of one id: promoted models whose logits the file averages, e.g. 3,17,21")
    export.add_argument("--out", required=True, help="the file to write, e.g. model.pt")
    export.add_argument("--level", type=non_negative_int,
                        help="a pruning level written by 'evohybrid prune' (default: the dense promoted model)")
    export.set_defaults(func=export_command)

    prune = commands.add_parser("prune", help="lottery tickets of a promoted model: iterative magnitude pruning with "
                                              "weight rewinding, and a random-reinitialisation control")
    prune.add_argument("run", help=RUN_HELP)
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
    prune.set_defaults(func=prune_command, stop_hint="finished levels are kept; run the same command again to continue")

    cross = commands.add_parser("cross-validate", help="choose among the top evaluations by k-fold cross-validation "
                                                       "of full training on the training split")
    cross.add_argument("run", help=RUN_HELP)
    cross.add_argument("--top", type=positive_int, default=5,
                       help="the K evaluations of highest proxy accuracy to judge (default 5)")
    cross.add_argument("--folds", type=positive_int, default=5, help="stratified folds of the training split (default 5)")
    cross.add_argument("--epochs", type=positive_int, default=15, help="training epochs per fold (default 15)")
    cross.add_argument("--lr", type=positive_float, default=0.1, help="learning rate (default 0.1)")
    cross.add_argument("--batch-size", type=positive_int, default=128, help="examples per step (default 128)")
    cross.add_argument("--train-size", type=positive_int,
                       help="training examples besides the search's validation slice, for a quick look (default: all)")
    cross.add_argument("--max-params", type=positive_int,
                       help="judge the top K among evaluations of at most this many parameters (default: any size)")
    cross.add_argument("--shift", type=shift_fraction, metavar="FRACTION", default=0.0,
                       help="series: shift each training series by up to this fraction of its length (default 0)")
    add_pool_flags(cross)
    cross.set_defaults(func=cross_validate_command, stop_hint=STUDY_STOP_HINT)


def pareto_command(args: argparse.Namespace) -> int:
    from ..evolution.store import RunStore
    from ..evolution.pareto import pareto_fronts, run_chance
    from ..inspection.tables import format_rows, front_rows

    store = RunStore.open(args.run)
    fronts = pareto_fronts(store.records(), args.fronts)
    if not fronts and args.format == "table":
        print(f"no successful evaluation in '{args.run}' yet")
        return 0
    print(format_rows(front_rows(fronts, run_chance(store)), args.format))
    return 0


def report_command(args: argparse.Namespace) -> int:
    from ..inspection.report import write_report

    for path in write_report(args.runs):
        print(path)
    return 0


def promote_command(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in PROMOTE_RECIPE_FLAGS if getattr(args, name) is not None}
    if args.resume and (given or args.max_params):
        flag = PROMOTE_RECIPE_FLAGS[next(iter(given))] if given else "--max-params"
        raise EvohybridError(f"{flag} cannot change a promotion being resumed: drop it (only --address can)")
    from ..training.ensemble import format_ensembles, top_ids, write_ensemble
    from ..training.promote import PromoteOptions, promote
    from ..training.promoted import format_promoted

    members = top_ids(args.run, args.ensemble, args.max_params) if args.ensemble else None  # chosen once
    if members is not None and args.max_params and len(members) < 2:
        raise EvohybridError(f"an ensemble needs at least 2 members, and '{args.run}' has one network of at most "
                             f"{args.max_params:,} parameters: raise --max-params")
    result = promote(args.run, ids=members or args.ids, top=args.top, front=args.front, knee=args.knee,
                     resume=args.resume, options=PromoteOptions(address=args.address, **given),
                     max_params=None if members else args.max_params)
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
    if result.failures:
        return 1
    if args.ensemble:
        print(format_ensembles([write_ensemble(args.run, members)]))
    return 0


def export_command(args: argparse.Namespace) -> int:
    from ..inspection.export import export_ensemble, export_model

    if (args.id is None) == (args.ensemble is None):
        raise EvohybridError("name what to export: one promoted model's id, or --ensemble IDS")
    if args.ensemble is not None:
        if args.level is not None:
            raise EvohybridError("--level exports one model's pruning level: drop it with --ensemble")
        print(export_ensemble(args.run, args.ensemble, args.out))
    else:
        print(export_model(args.run, args.id, args.out, level=args.level))
    return 0


def prune_command(args: argparse.Namespace) -> int:
    from ..training.lottery import LotterySettings, lottery_dir, prune
    from ..training.promoted import model_dir

    results = prune(args.run, args.id, LotterySettings(levels=args.levels, rate=args.rate, rewind=args.rewind,
                                                       layerwise=args.layerwise), log=log_line)
    print(f"{'level':>5}  {'pruned':>7}  {'weights':>9}  {'val_acc':>7}  {'test_acc':>8}  {'train_s':>7}")
    for row in results:
        name = "ctrl" if row["control"] else row["level"]
        print(f"{name:>5}  {row['sparsity']:>7.1%}  {row['weights_left']:>9,}  {row['val_acc']:>7.4f}  "
              f"{row['test_acc']:>8.4f}  {row['train_s']:>7.0f}")
    print(f"(ctrl: the last level's mask on fresh random weights)\noutputs: {lottery_dir(model_dir(args.run, args.id))}")
    return 0


def cross_validate_command(args: argparse.Namespace) -> int:
    from ..training.cross_validation import CrossValidationSettings, cross_validate, format_cross_validation

    settings = CrossValidationSettings(top=args.top, folds=args.folds, epochs=args.epochs, lr=args.lr,
                                       batch_size=args.batch_size, train_size=args.train_size,
                                       max_params=args.max_params, shift=args.shift)
    summary = cross_validate(args.run, settings, pool_options(args), log=log_line)
    print(format_cross_validation(summary))
    print(f"outputs: {args.run}/cross_validation (promote the winner with 'evohybrid promote {args.run} --ids "
          f"{summary['winner']}')")
    return 0
