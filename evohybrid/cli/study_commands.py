"""`evohybrid study proxy | summary | recipe | algorithms | timeseries`: how well the fitness and the searches do,
measured against full training."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..dataset_names import UCR_SETS
from ..errors import EvohybridError
from .arguments import (STUDY_STOP_HINT, OneLineParser, add_config_flags, add_pool_flags, add_truth_flags,
                        comma_names, comma_positive_ints, config_from_args, executor_factory, log_line, non_negative_int,
                        pool_options, positive_float, positive_int, shift_fraction, truth_settings)

PROXY_STUDY_HELP = "a directory written by 'evohybrid study proxy'"


def add_commands(commands: argparse._SubParsersAction) -> None:
    study = commands.add_parser("study", help="measure the fitness signal")
    study_commands = study.add_subparsers(dest="study_command", required=True, parser_class=OneLineParser)

    proxy = study_commands.add_parser("proxy", help="rank correlation of every proxy with full training")
    proxy.add_argument("--n", type=positive_int, default=40,
                       help="architectures, spread over the parameter range; a larger --n grows the study in --out, "
                            "keeping what it measured")
    proxy.add_argument("--out", required=True, help="study directory (created, or resumed when it holds this study)")
    add_truth_flags(proxy)
    proxy.add_argument("--proxy-seeds", type=positive_int, default=2,
                       help="weight seeds per signal; a second one measures each signal's repeatability (default 2)")
    proxy.add_argument("--measure", type=comma_names, metavar="NAMES",
                       help="make only these measurements this time, e.g. 'truth' on a GPU machine and the signals "
                            "on CPUs (default: all of them; the analysis uses whatever the study holds)")
    add_pool_flags(proxy)
    add_config_flags(proxy)
    proxy.set_defaults(func=proxy_command, stop_hint=STUDY_STOP_HINT)

    summary = study_commands.add_parser("summary", help="analyse what a proxy study measured so far (no measuring)")
    summary.add_argument("study", help=PROXY_STUDY_HELP)
    summary.set_defaults(func=summary_command)

    recipe = study_commands.add_parser("recipe", help="rank correlation of fitness recipes against a proxy study's truth")
    recipe.add_argument("study", help=PROXY_STUDY_HELP)
    recipe.add_argument("--recipes", required=True,
                        help="YAML file (or a name in the study directory) mapping recipe names to data/fitness overrides")
    recipe.set_defaults(func=recipe_command, stop_hint=STUDY_STOP_HINT)

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
    add_truth_flags(algorithms)
    add_pool_flags(algorithms)
    algorithms.set_defaults(func=algorithms_command, stop_hint=STUDY_STOP_HINT)

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
    series.add_argument("--space", help="the search space of every set's search (default conv1d; series: full-length "
                                        "networks of every block type; series-strides: the same, each stage choosing "
                                        "whether to halve the length)")
    series.add_argument("--fitness-folds", type=positive_int,
                        help="the search's fitness over that many folds of its slices (fitness.folds; default 1)")
    series.add_argument("--fitness-batch", type=positive_int,
                        help="the search's fitness batch (fitness.batch_size; default the config's 128, capped at "
                             "the series there are): smaller is cheaper on sets of many long series")
    series.add_argument("--cv-folds", type=non_negative_int,
                        help="choose the winner among the --promote-top by that many folds of full training on the "
                             "training split, and promote only it (default 0: promote them all, the best wins)")
    series.add_argument("--ensemble", type=non_negative_int,
                        help="also refit the best N candidates per seed and average their logits (default 0: none)")
    series.add_argument("--seed-ensemble", type=non_negative_int, metavar="N",
                        help="also refit the winner N times per seed, with other seeds, and average their logits "
                             "(default 0: none)")
    series.add_argument("--shift", type=shift_fraction, metavar="FRACTION",
                        help="the promotion recipe shifts each training series by up to this fraction of its length "
                             "(default 0: none)")
    series.add_argument("--max-params", type=positive_int,
                        help="the candidates are the best by proxy among networks of at most this many parameters "
                             "(default: any size)")
    add_pool_flags(series)
    series.set_defaults(func=timeseries_command, stop_hint=STUDY_STOP_HINT)


def proxy_command(args: argparse.Namespace) -> int:
    config, pool, truth = config_from_args(args), pool_options(args), truth_settings(args)
    from ..studies.analysis import format_summary
    from ..studies.proxy_study import run_study

    measure = {"measure": args.measure} if args.measure else {}
    summary = run_study(args.out, config, n=args.n, truth=truth, proxy_seeds=args.proxy_seeds, pool=pool, log=log_line,
                        **measure)
    if not summary["n"]:
        print("no architecture has a complete truth yet: run the same command again to continue")
        return 0
    print(f"\nrank agreement with full training over {summary['n']} architectures (truth: {args.truth_epochs} "
          f"epochs x {args.truth_seeds} seeds, mean val acc {summary['truth']['mean_val_acc']:.3f}):")
    print(format_summary(summary))
    print(f"\nstudy directory: {args.out}")
    return 0


def summary_command(args: argparse.Namespace) -> int:
    from ..studies.analysis import format_summary
    from ..studies.proxy_study import STUDY_FILE, write_study_summary

    settings = Path(args.study) / STUDY_FILE
    if not settings.is_file():
        raise EvohybridError(f"'{args.study}' holds no proxy study ({STUDY_FILE}): run 'evohybrid study proxy' first")
    summary = write_study_summary(Path(args.study), json.loads(settings.read_text()).get("truth_seeds"))
    print(f"rank agreement with full training over {summary['n']} architectures with a complete truth:")
    print(format_summary(summary))
    print(f"\nwritten: {Path(args.study) / 'summary.json'}")
    return 0


def recipe_command(args: argparse.Namespace) -> int:
    from ..yaml_files import read_yaml, resolve_yaml

    variants = read_yaml(resolve_yaml(args.recipes, Path(args.study), "recipes"), "recipes")
    if not isinstance(variants, dict) or not variants:
        raise EvohybridError(f"'{args.recipes}' must map recipe names to overrides, e.g. 'steps-80: {{fitness: {{steps: 80}}}}'")
    from ..studies.analysis import format_summary
    from ..studies.proxy_study import run_recipe_study

    summary = run_recipe_study(args.study, variants)
    print(f"\nrank correlation with the study's truth over {summary['n']} architectures:")
    print(format_summary(summary))
    print(f"\nwritten: {Path(args.study) / 'recipes.json'}")
    return 0


def algorithms_command(args: argparse.Namespace) -> int:
    from ..studies.algorithm_study import format_algorithms, format_bands, study_algorithms

    summary = study_algorithms(args.runs, args.out, top=args.promote_top, front=args.promote_front,
                               truth=truth_settings(args), pool=pool_options(args), log=log_line,
                               measure=not args.measured_only, bands=args.bands or (), reference=args.reference,
                               hv_accuracy=args.true_hv_accuracy)
    print(format_algorithms(summary))
    if "bands" in summary:
        print(f"\nthe pick of each search in each size band, judged by full training:\n{format_bands(summary)}")
    print(f"\nstudy directory: {args.out}")
    return 0


def timeseries_command(args: argparse.Namespace) -> int:
    from ..studies.timeseries_study import TimeseriesSettings, format_timeseries, run_timeseries_study

    settings = TimeseriesSettings(**{name: value for name, value in (
        ("sets", tuple(args.sets.split(",")) if args.sets else None), ("budget", args.budget),
        ("epochs", args.epochs), ("batch_size", args.batch_size), ("refit_seeds", args.refit_seeds),
        ("promote_top", args.promote_top), ("space", args.space), ("fitness_folds", args.fitness_folds),
        ("fitness_batch", args.fitness_batch), ("cv_folds", args.cv_folds), ("ensemble", args.ensemble),
        ("seed_ensemble", args.seed_ensemble), ("max_params", args.max_params), ("shift", args.shift))
        if value is not None})
    summary = run_timeseries_study(args.out, settings, executor_factory=executor_factory(args), pool=pool_options(args),
                                   log=log_line)
    print(format_timeseries(summary))
    print(f"\nstudy directory: {args.out}")
    return 0
