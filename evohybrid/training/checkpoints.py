"""Epoch checkpoints of one training in a folder of its own, for promotion trials and pruning levels.

Each is `checkpoint-<step>/`: the weights, optimiser and schedule as `Training.save` writes them (tensors only, loaded
back weights-only) and `progress.json` (plain JSON), written into a hidden sibling and renamed into place, so a kill
leaves the previous checkpoint or the new one, never half of one. Only the newest is kept. Nothing in them can run
code when loaded: a folder someone else shared is safe to continue from.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from .trainer import Training

PROGRESS_FILE = "progress.json"


def save_new(folder: Path, write: Callable[[Path], None]) -> None:
    """Write a new folder's files into a temporary sibling, then rename it into place: a kill never leaves half a
    folder. An existing folder is kept (it holds the same state)."""
    if folder.exists():
        return
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    write(staging)
    staging.rename(folder)


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in `folder` (progress.json is written last), or None."""
    complete = [path for path in folder.glob("checkpoint-*") if (path / PROGRESS_FILE).exists()]
    return max(complete, default=None, key=lambda path: int(path.name.split("-")[1]))


def read_progress(checkpoint: Path) -> dict[str, Any]:
    """What the training recorded with a checkpoint (plain JSON)."""
    return json.loads((checkpoint / PROGRESS_FILE).read_text())


def resume_training(folder: Path, training: Training) -> dict[str, Any] | None:
    """Load the newest checkpoint in `folder` into `training` and return its progress; None (and `training`
    untouched) when there is none. Half-written checkpoints that a kill left behind are removed."""
    for staging in folder.glob(".checkpoint-*"):
        shutil.rmtree(staging)
    checkpoint = latest_checkpoint(folder)
    if checkpoint is None:
        return None
    training.load(checkpoint)
    return read_progress(checkpoint)


def save_checkpoint(folder: Path, training: Training, progress: dict[str, Any]) -> Path:
    """Write `training` and `progress` as the newest checkpoint in `folder`, then remove the older ones."""
    checkpoint = folder / f"checkpoint-{training.step}"

    def write(staging: Path) -> None:
        training.save(staging)
        (staging / PROGRESS_FILE).write_text(json.dumps(progress))

    save_new(checkpoint, write)
    for older in folder.glob("checkpoint-*"):  # the new one is complete: the older ones can go
        if older != checkpoint:
            shutil.rmtree(older)
    return checkpoint
