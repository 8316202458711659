"""Promotion recipe: which schedule length, label smoothing and flips train a search's winner best at the native
resolution. Judged on a 10,000-image validation slice held out of the training split (never the test split), one
training per variant, all variants on a pool of Ray workers (one CPU each), so their seconds compare.

    python results/studies/equal-time-fashion-mnist/promotion_recipe.py results/<run>            # the best front member of <= 100k parameters
    python results/studies/equal-time-fashion-mnist/promotion_recipe.py results/<run> --id 88 --epochs 15,30

Prints one row per variant: validation accuracy, training seconds, and the seconds per epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

from evohybrid.config import config_from_dict
from evohybrid.distributed.job_pool import PoolOptions, run_jobs
from evohybrid.evolution.store import RunStore
from evohybrid.evolution.pareto import pareto_front
from evohybrid.spaces.genome import Genome
from evohybrid.training.trainer import NATIVE, Training, TrainingData, training_data

SMALL_PARAMS = 100_000
VAL_SIZE = 10_000


def _context(config: dict, val_size: int) -> TrainingData:
    return training_data(config_from_dict(config), val_size=val_size, resolution=NATIVE)


def _train(data: TrainingData, job: tuple[dict, int, float, bool]) -> float:
    genome, epochs, smoothing, flip = job
    split = data.split
    augmented = dataclasses.replace(data, split=dataclasses.replace(
        split, augmentation=dataclasses.replace(split.augmentation, flip=flip or split.augmentation.flip)))
    training = Training(Genome.from_dict(genome), augmented, epochs=epochs, label_smoothing=smoothing)
    training.run()
    return training.val_accuracy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a search run directory")
    parser.add_argument("--id", type=int, help="the evaluation to train (default: the front member of highest proxy "
                                               "accuracy with at most 100k parameters)")
    parser.add_argument("--epochs", default="15", help="comma-separated schedule lengths (default 15)")
    parser.add_argument("--label-smoothing", default="0,0.1", help="comma-separated values (default 0,0.1)")
    parser.add_argument("--flip", default="no,yes", help="horizontal flips: no, yes or both (default no,yes)")
    parser.add_argument("--workers", type=int, help="Ray workers (default: one per CPU)")
    args = parser.parse_args()

    store = RunStore.open(args.run)
    records = store.records()
    if args.id is None:
        small = [record for record in pareto_front(records) if record["params"] <= SMALL_PARAMS]
        record = max(small, key=lambda r: r["val_acc"])
    else:
        record = next(r for r in records if r["id"] == args.id)
    jobs = list(itertools.product([record["genome"]], map(int, args.epochs.split(",")),
                                  map(float, args.label_smoothing.split(",")),
                                  [flip == "yes" for flip in args.flip.split(",")]))
    print(f"id {record['id']}: {record['params']:,} parameters, proxy {record['val_acc']:.4f}; "
          f"{Genome.from_dict(record['genome']).describe()}")
    print(f"{'epochs':>6}  {'smoothing':>9}  {'flip':>4}  {'val_acc':>7}  {'train_s':>8}  {'s/epoch':>7}")
    results = run_jobs(jobs, _context, (store.read_config()["config"], VAL_SIZE), _train,
                       PoolOptions(workers=args.workers))
    for (_, epochs, smoothing, flip), accuracy, seconds in results:
        print(f"{epochs:>6}  {smoothing:>9g}  {'yes' if flip else 'no':>4}  {accuracy:>7.4f}  {seconds:>8.0f}  "
              f"{seconds / epochs:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
