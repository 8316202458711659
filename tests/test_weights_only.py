"""No file evohybrid loads can run code: a file holding a pickled object with a side effect is refused by every
loader (exported models, promoted weights, training checkpoints), and the side effect never happens."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import torch

import evohybrid
from evohybrid.errors import EvohybridError
from evohybrid.inspection.export import export_model, load_exported
from evohybrid.training.promoted import PROMOTED_DIR
from evohybrid.training.trainer import Training, training_data


class SideEffect:
    """Unpickling this creates `marker`: what a malicious file would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _malicious(path: Path, marker: Path) -> Path:
    torch.save({"format": "evohybrid-model", "weight": torch.zeros(2), "payload": SideEffect(marker)}, path)
    return path


def test_the_malicious_file_really_has_a_side_effect_when_loaded_unsafely(tmp_path):
    marker = tmp_path / "ran"
    torch.load(_malicious(tmp_path / "file.pt", marker), weights_only=False)
    assert marker.exists()  # so the refusals below are refusals of real code


def test_load_exported_refuses_it(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(EvohybridError, match="not a model file"):
        load_exported(_malicious(tmp_path / "model.pt", marker))
    assert not marker.exists()


def test_export_refuses_promoted_weights_that_hold_objects(promoted, tmp_path):
    run, ids = promoted
    copy = Path(shutil.copytree(run, tmp_path / "run"))  # the shared fixture stays untouched
    marker = tmp_path / "ran"
    _malicious(copy / PROMOTED_DIR / str(ids[0]) / "model.pt", marker)
    with pytest.raises(EvohybridError, match="holds Python objects"):
        export_model(copy, ids[0], tmp_path / "out.pt")
    assert not marker.exists() and not (tmp_path / "out.pt").exists()


def test_a_training_checkpoint_that_holds_objects_is_refused(smoke_config, tmp_path):
    genome = evohybrid.load_space("tiny").sample(random.Random(0))
    training = Training(genome, training_data(smoke_config, train_size=256), epochs=1)
    training.save(tmp_path)
    marker = tmp_path / "ran"
    _malicious(tmp_path / "optimizer.pt", marker)
    with pytest.raises(Exception, match="Weights only load failed"):
        Training(genome, training_data(smoke_config, train_size=256), epochs=1).load(tmp_path)
    assert not marker.exists()
