"""The promotion recipe with random shifts of the training series (`--shift`), on each set's winner as it stands:
its refit on the whole training split (seeds 0-2, paired with `<set>/refits.jsonl`), and its cross-validation
folds (paired with `<set>/search/cross_validation/folds.jsonl`). Resumable: each training is a line of
`shift.jsonl` as it finishes.

    python results/studies/timeseries-strides/shift.py 0.1 ArrowHead,PickupGestureWiimoteZ,OSULeaf
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from evohybrid.evolution.store import KeptRows, RunStore
from evohybrid.spaces.genome import Genome
from evohybrid.studies.timeseries_study import promoted_winner
from evohybrid.training.cross_validation import fold_data
from evohybrid.training.trainer import Training, TrainingData, refit_data, training_data

STUDY = Path(__file__).parent
SEEDS = (0, 1, 2)


def trainings(name: str) -> list[tuple[str, int, TrainingData]]:
    """The set's refit (one training per seed) and its folds (the cross-validation's recipe, seed 0)."""
    config, _genome, metrics = promoted_winner(STUDY / name, winner(name))
    refit = refit_data(training_data(config, resolution=metrics["resolution"]))
    folds = fold_data(config.to_dict(), cv_settings(name))
    return [("refit", seed, refit) for seed in SEEDS] + [("cv", fold, data) for fold, data in enumerate(folds)]


def winner(name: str) -> int:
    return json.loads((STUDY / name / "result.json").read_text())["ours"]["id"]


def cv_settings(name: str) -> dict:
    return json.loads((STUDY / name / "search" / "cross_validation" / "settings.json").read_text())["settings"]


def without_shift(name: str, what: str) -> list[float]:
    """The same trainings without the shift, as the study ran them."""
    if what == "refit":
        rows = [json.loads(line) for line in (STUDY / name / "refits.jsonl").read_text().splitlines()]
        logits = {row["seed"]: torch.tensor(row["test_logits"]) for row in rows if row["id"] == winner(name)}
        labels = refit_data(training_data(promoted_winner(STUDY / name, winner(name))[0])).test_labels
        return [float((logits[seed].argmax(dim=1) == labels).double().mean()) for seed in SEEDS]
    rows = [json.loads(line) for line in
            (STUDY / name / "search" / "cross_validation" / "folds.jsonl").read_text().splitlines()]
    return [row["val_acc"] for row in sorted(rows, key=lambda row: row["fold"]) if row["id"] == winner(name)]


def main(shift: float, names: list[str]) -> None:
    torch.set_num_threads(1)
    done = KeptRows(STUDY / "shift.jsonl", ("set", "shift", "what", "index"))
    for name in names:
        genome = Genome.from_dict(next(record["genome"] for record in RunStore.open(STUDY / name / "search").records()
                                       if record["id"] == winner(name)))
        recipe = {key: cv_settings(name)[key] for key in ("epochs", "lr", "batch_size")}
        for what, index, data in trainings(name):
            if (name, shift, what, index) in done:
                continue
            start = time.perf_counter()
            training = Training(genome, data, shift=shift, seed=index if what == "refit" else None, **recipe)
            training.run()
            accuracy = training.test_accuracy() if what == "refit" else training.val_accuracy()
            done.keep({"set": name, "shift": shift, "what": what, "index": index, "acc": accuracy,
                       "seconds": time.perf_counter() - start})
        for what in ("refit", "cv"):
            ours = [row["acc"] for key, row in sorted(done.rows.items()) if key[:3] == (name, shift, what)]
            base = without_shift(name, what)
            print(f"{name:<22} {what:<5} shift {shift}: {statistics.mean(ours):.3f} "
                  f"({' '.join(f'{value:.3f}' for value in ours)}), none: {statistics.mean(base):.3f} "
                  f"({' '.join(f'{value:.3f}' for value in base)})", flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2].split(","))
