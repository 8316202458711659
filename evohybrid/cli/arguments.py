"""What every command shares: the one-line usage errors, the value types, the flag groups declared once, and the
objects those flags make. Heavy parts (torch, Ray) are imported only by the helpers that need them."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Callable, NoReturn

from ..config import Config, load_config
from ..dataset_names import DATASET_NAMES, UCR_SETS, dataset_holds
from ..errors import EvohybridError

if TYPE_CHECKING:
    from ..evolution.executors import Executor
    from ..distributed.job_pool import PoolOptions
    from ..studies.truth import TruthSettings

STUDY_STOP_HINT = "every finished measurement is saved; run the same command again to continue"


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


def positive_float(text: str) -> float:
    return _float_at_least(text, 0.0, inclusive=False)


def non_negative_float(text: str) -> float:
    return _float_at_least(text, 0.0, inclusive=True)


def shift_fraction(text: str) -> float:
    """A fraction of a series' length, at least 0 and below 0.5."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 0.5:
        raise argparse.ArgumentTypeError(f"must be a fraction of the series' length from 0 to below 0.5, e.g. 0.1, "
                                         f"got '{text}'")
    return value


def _float_at_least(text: str, bound: float, *, inclusive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or not (value >= bound if inclusive else value > bound):
        kind = "non-negative" if inclusive else "positive"
        raise argparse.ArgumentTypeError(f"must be a {kind} number, got '{text}'")
    return value


def comma_positive_ints(text: str) -> tuple[int, ...]:
    return tuple(positive_int(part) for part in text.split(","))


def comma_positive_floats(text: str) -> tuple[float, ...]:
    return tuple(positive_float(part) for part in text.split(","))


def comma_names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="default", help="config name in configs/ or a YAML path (default: default)")
    parser.add_argument("--space", help="search space name in search_spaces/ or a YAML path")
    images = [name for name in DATASET_NAMES if dataset_holds(name) == "images"]
    parser.add_argument("--dataset", help=f"images: {', '.join(images)} (fashion-mnist is the offline default; "
                                          "synthetic-cifar10 is random, for timing); series, with --space conv1d: "
                                          f"ucr:<name>, a UCR set bundled with aeon ({', '.join(UCR_SETS)}), or "
                                          "mnist1d, generated offline (best with --config mnist1d)")
    parser.add_argument("--data-dir", help="where data sets are found or downloaded (also EVOHYBRID_DATA)")
    parser.add_argument("--no-download", action="store_true", help="never download a missing data set")
    parser.add_argument("--seed", type=int, help="seed for the split, the weights and the algorithm")


def config_from_args(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    config = config.override(None, seed=args.seed, space=args.space)
    config = config.override("data", dataset=args.dataset, data_dir=args.data_dir)
    if getattr(args, "no_download", False):
        config = config.override("data", download=False)
    if getattr(args, "no_screen", False):
        if args.screen_signal is not None or args.screen_factor is not None:
            raise EvohybridError("--no-screen turns screening off: drop --screen-signal and --screen-factor, or it")
        config = config.without_screening()
    return config.override("search", **{key: getattr(args, key, None) for key in (
        "algorithm", "time_budget", "selection", "screen_signal", "screen_factor")})


def add_address_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="join a running Ray cluster: 'auto' or host:port (default: start a local "
                                          "Ray on 127.0.0.1)")


def add_pool_flags(parser: argparse.ArgumentParser) -> None:
    """The Ray pool of a search or a study: its executor, its size and its cluster."""
    parser.add_argument("--executor", choices=("ray", "local"), default="ray",
                        help="ray: a pool of workers (default); local: without Ray, one at a time in this process "
                             "(a study: in --workers processes of this machine)")
    parser.add_argument("--workers", type=positive_int,
                        help="Ray workers (default: one per GPU, else one per CPU a worker needs); with --executor "
                             "local, a study's processes (default 1)")
    add_address_flag(parser)
    parser.add_argument("--worker-timeout", type=positive_float, metavar="SECONDS",
                        help="stop (resumable) when no live node has held a Ray worker this long, e.g. every node but "
                             "the head gone (default 120)")


def executor_factory(args: argparse.Namespace) -> Callable[[Config], Executor] | None:
    if args.executor == "local":
        if args.workers not in (None, 1):
            raise EvohybridError("--workers with --executor local is for studies' measurements: drop it, or use "
                                 "--executor ray")
        if args.address or args.worker_timeout or getattr(args, "gpus_per_eval", None):
            raise EvohybridError("--address, --worker-timeout and --gpus-per-eval need --executor ray")
        return None
    from ..distributed.ray_executor import RayExecutor, RayOptions

    # Flags a command lacks (the studies have no --cpus-per-eval) or left out keep RayOptions' defaults.
    given = {option: getattr(args, flag) for flag, option in (("cpus_per_eval", "cpus_per_eval"),
                                                               ("gpus_per_eval", "gpus_per_eval"),
                                                               ("worker_timeout", "worker_timeout_s"))
             if getattr(args, flag, None) is not None}
    options = RayOptions(workers=args.workers, address=args.address, **given)
    return lambda config: RayExecutor(config, options)


def pool_options(args: argparse.Namespace) -> PoolOptions:
    if args.executor == "local" and args.worker_timeout is not None:
        raise EvohybridError("--worker-timeout needs the Ray executor: drop it, or drop --executor local")
    from ..distributed.job_pool import PoolOptions

    timeout = {} if args.worker_timeout is None else {"worker_timeout_s": args.worker_timeout}
    return PoolOptions(executor=args.executor, workers=args.workers, address=args.address, **timeout)


def add_truth_flags(parser: argparse.ArgumentParser) -> None:
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


def truth_settings(args: argparse.Namespace) -> TruthSettings:
    from ..studies.truth import TruthSettings

    return TruthSettings(epochs=args.truth_epochs, lr=args.truth_lr, seeds=args.truth_seeds,
                         val_size=args.truth_val_size, train_size=args.truth_train_size,
                         resolution=args.truth_resolution)


def log_line(line: str) -> None:
    print(line, flush=True)  # a long study's log file shows each measurement as it finishes
