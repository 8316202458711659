"""Ensembles of promoted models: judged on the members' validation slice and test split with their size summed, and
exported as one weights-only file whose module averages the members' logits; one-line errors that write nothing."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import evohybrid
from evohybrid.cli import main
from evohybrid.evolution.store import RunStore
from evohybrid.inspection.export import export_ensemble, export_model
from evohybrid.inspection.report import write_report
from evohybrid.training.ensemble import ensemble_dir, read_ensembles, write_ensemble
from evohybrid.training.promoted import PROMOTED_DIR, read_promoted


@pytest.fixture
def run_copy(promoted, tmp_path):
    """A copy of the session's promoted run: these tests write ensembles into it."""
    run, ids = promoted
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy, ids


def test_an_ensemble_is_judged_and_sized_as_its_members_together(run_copy):
    run, ids = run_copy
    metrics = write_ensemble(run, list(reversed(ids)))
    members = {row["id"]: row for row in read_promoted(run) if row["id"] in ids}
    assert metrics["members"] == list(reversed(ids))
    assert metrics["params"] == sum(row["params"] for row in members.values())
    assert metrics["flops"] == sum(row["flops"] for row in members.values())
    assert 0.0 <= metrics["val_acc"] <= 1.0 and 0.0 <= metrics["test_acc"] <= 1.0
    assert metrics["member_test_accs"] == [members[i]["test_acc"] for i in reversed(ids)]
    # One folder per set of members, whatever their order; the tables list it.
    assert json.loads((ensemble_dir(run, ids) / "metrics.json").read_text()) == metrics
    assert read_ensembles(run) == [metrics]
    page = write_report([run])[0].read_text()
    assert "<h2>Ensembles</h2>" in page and f"{ids[1]} + {ids[0]}" in page


def test_an_exported_ensemble_loads_weights_only_and_averages_its_members_logits(run_copy, tmp_path):
    run, ids = run_copy
    path = export_ensemble(run, ids, tmp_path / "ensemble.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["version"] == 2 and [member["id"] for member in payload["members"]] == ids
    ensemble = evohybrid.load_exported(path)
    singles = [evohybrid.load_exported(export_model(run, eval_id, tmp_path / f"{eval_id}.pt")) for eval_id in ids]
    images = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = torch.stack([single(images) for single in singles]).mean(dim=0)
        torch.testing.assert_close(ensemble(images), expected)
    # The accuracy the export carries is the ensemble's own, judged when it was first asked for.
    assert payload["test_acc"] == read_ensembles(run)[0]["test_acc"]


def test_export_command_writes_an_ensemble(run_copy, tmp_path, capsys):
    run, ids = run_copy
    out = tmp_path / "cli.pt"
    assert main(["export", str(run), "--ensemble", ",".join(map(str, ids)), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert evohybrid.load_exported(out)(torch.rand(2, 1, 12, 12)).shape == (2, 10)


@pytest.mark.parametrize("members", ["{0}", "{0},{0}"])
def test_export_of_an_ensemble_of_one_is_a_usage_error(promoted, tmp_path, capsys, folder_listing, members):
    run, ids = promoted
    before = folder_listing(run)
    with pytest.raises(SystemExit) as info:
        main(["export", str(run), "--ensemble", members.format(ids[0]), "--out", str(tmp_path / "x.pt")])
    assert info.value.code == 2
    assert "an ensemble needs at least 2 distinct ids" in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "x.pt").exists() and folder_listing(run) == before


@pytest.mark.parametrize("case, fragment", [
    ("not-promoted", "evohybrid promote"),
    ("id-and-ensemble", "one promoted model's id, or --ensemble IDS"),
    ("neither", "one promoted model's id, or --ensemble IDS"),
    ("level", "--level exports one model's pruning level"),
])
def test_export_ensemble_errors_are_one_line_and_write_nothing(promoted, tmp_path, capsys, folder_listing, case,
                                                                 fragment):
    run, ids = promoted
    before = folder_listing(run)
    unpromoted = next(r["id"] for r in RunStore.open(run).records() if not (run / PROMOTED_DIR / str(r["id"])).exists())
    both = ",".join(map(str, ids))
    argv = {"not-promoted": ["--ensemble", f"{ids[0]},{unpromoted}"], "id-and-ensemble": [str(ids[0]), "--ensemble", both],
            "neither": [], "level": ["--ensemble", both, "--level", "1"]}[case]
    assert main(["export", str(run), *argv, "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()
    assert folder_listing(run) == before  # the shared run is only read


def test_promote_refuses_an_ensemble_of_one_before_anything_runs(promoted, capsys, folder_listing):
    run, _ids = promoted
    before = folder_listing(run)
    with pytest.raises(SystemExit) as info:
        main(["promote", str(run), "--ensemble", "1"])
    assert info.value.code == 2
    assert "an ensemble needs at least 2 members, got '1'" in capsys.readouterr().err
    assert folder_listing(run) == before


def test_promote_refuses_an_ensemble_that_max_params_leaves_one_member(promoted, capsys, folder_listing):
    run, _ids = promoted
    before = folder_listing(run)
    smallest = min(record["params"] for record in RunStore.open(run).records() if record["status"] == "ok")
    assert main(["promote", str(run), "--ensemble", "2", "--max-params", str(smallest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "an ensemble needs at least 2 members" in err and "raise --max-params" in err
    assert folder_listing(run) == before


def test_promote_ensemble_trains_the_top_n_and_judges_their_ensemble(run_copy, capsys):
    run, _ids = run_copy
    assert main(["promote", str(run), "--ensemble", "2", "--epochs", "1", "--train-size", "2048",
                 "--batch-size", "512"]) == 0
    top = sorted((r for r in RunStore.open(run).records() if r["status"] == "ok"),
                 key=lambda r: (-r["val_acc"], r["params"], r["id"]))[:2]
    [ensemble] = read_ensembles(run)
    assert ensemble["members"] == [r["id"] for r in top]
    assert ensemble["params"] == sum(r["params"] for r in top)
    out = capsys.readouterr().out
    assert "+".join(str(r["id"]) for r in top) in out and f"{ensemble['params']:,}" in out
