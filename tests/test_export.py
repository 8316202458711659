"""Export of a promoted model and `evohybrid.load_exported`: the file loads with weights_only, the module gives the
promoted network's logits for plain [0, 1] images at the training size and resizes others; one-line CLI errors."""

from __future__ import annotations

import json

import pytest
import torch

import evohybrid
from evohybrid.cli import main
from evohybrid.evolution.store import RunStore
from evohybrid.inspection.export import ExportError, export_model
from evohybrid.spaces.builder import build_model
from evohybrid.training.promoted import PROMOTED_DIR

def _promoted_network(run, eval_id):
    """The promoted network rebuilt from its run folder, with the normalisation it was trained with."""
    folder = run / PROMOTED_DIR / str(eval_id)
    metrics = json.loads((folder / "metrics.json").read_text())
    network = build_model(evohybrid.Genome.from_json((folder / "genome.json").read_text()),
                          in_channels=metrics["input"]["in_channels"], num_classes=metrics["input"]["num_classes"],
                          trainable="all")
    network.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    mean, std = (torch.tensor(metrics["input"][key]).view(1, -1, 1, 1) for key in ("mean", "std"))
    return network.eval(), mean, std, metrics["input"]["resolution"]


def test_exported_model_equals_the_promoted_one(promoted, tmp_path):
    run, ids = promoted
    path = export_model(run, ids[0], tmp_path / "deep" / "model.pt")
    payload = torch.load(path, weights_only=True)
    assert {"genome", "state_dict", "in_channels", "num_classes", "resolution", "mean", "std"} <= set(payload)
    model = evohybrid.load_exported(path)
    network, mean, std, resolution = _promoted_network(run, ids[0])
    images = torch.rand(5, 1, resolution, resolution, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        logits = model(images)
        expected = network((images - mean) / std)
    assert logits.shape == (5, 10)
    torch.testing.assert_close(logits, expected)


def test_exported_model_resizes_other_image_sizes(promoted, tmp_path):
    run, ids = promoted
    model = evohybrid.load_exported(export_model(run, ids[1], tmp_path / "model.pt"))
    network, mean, std, resolution = _promoted_network(run, ids[1])
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    resized = torch.nn.functional.interpolate(images, size=(resolution, resolution), mode="bilinear", antialias=True)
    with torch.inference_mode():
        torch.testing.assert_close(model(images), network((resized - mean) / std))
        assert model(torch.rand(2, 1, 40, 33)).shape == (2, 10)
    with pytest.raises(ValueError, match="shape"):
        model(torch.rand(2, 3, resolution, resolution))


def test_export_command_writes_the_file(promoted, tmp_path, capsys):
    run, ids = promoted
    out = tmp_path / "cli.pt"
    assert main(["export", str(run), str(ids[0]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert evohybrid.load_exported(out)(torch.rand(1, 1, 12, 12)).shape == (1, 10)


@pytest.mark.parametrize("case, fragment", [
    ("missing-run", "does not exist"),
    ("unknown-id", "no evaluation with id 999"),
    ("not-promoted", "evohybrid promote"),
])
def test_export_errors_are_one_line(promoted, tmp_path, capsys, folder_listing, case, fragment):
    run, ids = promoted
    before = folder_listing(run)
    records = RunStore.open(run).records()
    unpromoted = next(r["id"] for r in records if not (run / PROMOTED_DIR / str(r["id"])).exists())
    eval_id = {"missing-run": ids[0], "unknown-id": 999, "not-promoted": unpromoted}[case]
    target = tmp_path / "missing" if case == "missing-run" else run
    assert main(["export", str(target), str(eval_id), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()
    assert folder_listing(run) == before  # the shared run is only read


def test_load_exported_refuses_other_files(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a model")
    for name in ("other.pt", "text.pt", "absent.pt"):
        with pytest.raises(ExportError):
            evohybrid.load_exported(tmp_path / name)
