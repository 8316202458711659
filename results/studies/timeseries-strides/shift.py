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

from evohybrid.evolution.store import KeptRows, read_records
from evohybrid.studies.timeseries_study import promoted_winner
from evohybrid.training.cross_validation import fold_data
from evohybrid.training.trainer import Training, refit_data, training_data

STUDY = Path(__file__).parent
SEEDS = (0, 1, 2)


def without_shift(name: str, winner: int, labels: torch.Tensor) -> dict[str, list[float]]:
    """The same trainings without the shift, as the study ran them: refit test accuracy by seed, folds in order."""
    logits = {row["seed"]: torch.tensor(row["test_logits"]) for row in read_records(STUDY / name / "refits.jsonl")
              if row["id"] == winner}
    folds = sorted((row for row in read_records(STUDY / name / "search" / "cross_validation" / "folds.jsonl")
                    if row["id"] == winner), key=lambda row: row["fold"])
    return {"refit": [float((logits[seed].argmax(dim=1) == labels).double().mean()) for seed in SEEDS],
            "cv": [row["val_acc"] for row in folds]}


def main(shift: float, names: list[str]) -> None:
    torch.set_num_threads(1)
    done = KeptRows(STUDY / "shift.jsonl", ("set", "shift", "what", "index"))
    for name in names:
        winner = json.loads((STUDY / name / "result.json").read_text())["ours"]["id"]
        config, genome, metrics = promoted_winner(STUDY / name, winner)
        cv = json.loads((STUDY / name / "search" / "cross_validation" / "settings.json").read_text())["settings"]
        recipe = {key: cv[key] for key in ("epochs", "lr", "batch_size")}  # the promotion's too
        refit = refit_data(training_data(config, resolution=metrics["resolution"]))
        # The refit with seeds 0-2, and the cross-validation's folds (with its seed, the run's).
        trainings = [("refit", seed, refit) for seed in SEEDS]
        trainings += [("cv", fold, data) for fold, data in enumerate(fold_data(config.to_dict(), cv))]
        for what, index, data in trainings:
            if (name, shift, what, index) in done:
                continue
            start = time.perf_counter()
            training = Training(genome, data, shift=shift, seed=index if what == "refit" else None, **recipe)
            training.run()
            accuracy = training.test_accuracy() if what == "refit" else training.val_accuracy()
            done.keep({"set": name, "shift": shift, "what": what, "index": index, "acc": accuracy,
                       "seconds": time.perf_counter() - start})
        base = without_shift(name, winner, refit.test_labels)
        for what in ("refit", "cv"):
            ours = [row["acc"] for key, row in sorted(done.rows.items()) if key[:3] == (name, shift, what)]
            print(f"{name:<22} {what:<5} shift {shift}: {statistics.mean(ours):.3f} "
                  f"({' '.join(f'{value:.3f}' for value in ours)}), none: {statistics.mean(base[what]):.3f} "
                  f"({' '.join(f'{value:.3f}' for value in base[what])})", flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2].split(","))
