"""`make mutation` carries its verdicts across checkouts through tests/mutation/verdicts/, and drops them when files
move: the helper run as the Makefile runs it, in a small git repository of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "mutation" / "verdicts.py"


def _helper(repo: Path, command: str) -> str:
    result = subprocess.run([sys.executable, "tests/mutation/verdicts.py", command], cwd=repo, capture_output=True,
                            text=True, check=True)
    return result.stdout


def test_verdicts_reach_a_fresh_checkout_and_a_move_starts_afresh(tmp_path):
    repo = tmp_path / "repo"
    (repo / "evohybrid").mkdir(parents=True)
    (repo / "tests" / "mutation").mkdir(parents=True)
    (repo / "evohybrid" / "genome.py").write_text("x = 1\n")
    (repo / "tests" / "test_genome.py").write_text("")
    shutil.copy(SCRIPT, repo / "tests" / "mutation" / "verdicts.py")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)

    _helper(repo, "restore")
    meta = repo / "mutants" / "evohybrid" / "genome.py.meta"
    meta.parent.mkdir(parents=True)
    verdicts = {"exit_code_by_key": {"evohybrid.genome.x_f__mutmut_1": 1, "evohybrid.genome.x_f__mutmut_2": None}}
    meta.write_text(json.dumps(verdicts))
    stats = {"tests_by_mangled_function_name": {"evohybrid.genome.x_f": ["tests/test_genome.py::test_x"]}}
    (repo / "mutants" / "mutmut-stats.json").write_text(json.dumps(stats))
    # mutmut's copy of tests/ holds the kept verdicts too: they are not the package's, and are not kept again.
    copied = repo / "mutants" / "tests" / "mutation" / "verdicts" / "evohybrid" / "genome.py.meta"
    copied.parent.mkdir(parents=True)
    copied.write_text(json.dumps(verdicts))
    assert "kept the verdicts of 1 files" in _helper(repo, "keep")
    assert not (repo / "tests" / "mutation" / "verdicts" / "tests").exists()
    kept = repo / "tests" / "mutation" / "verdicts" / "evohybrid" / "genome.py.meta"
    assert json.loads(kept.read_text()) == verdicts

    shutil.rmtree(repo / "mutants")  # another machine: a checkout with the kept verdicts and no mutants/
    assert "continuing the kept pass" in _helper(repo, "restore")
    assert json.loads(meta.read_text()) == verdicts
    assert json.loads((repo / "mutants" / "mutmut-stats.json").read_text()) == stats  # no stats run again

    meta.write_text('{"exit_code_by_key": {')  # a pass stopped while mutmut rewrote this file
    assert "not whole" in _helper(repo, "keep")
    assert json.loads(kept.read_text()) == verdicts

    # The kept verdicts go with the helper's own folder, which does not count as a move.
    subprocess.run(["git", "add", "-A", "tests/mutation"], cwd=repo, check=True)
    meta.write_text(json.dumps(verdicts))
    assert "fresh pass" not in _helper(repo, "restore") and meta.exists()

    subprocess.run(["git", "mv", "evohybrid/genome.py", "evohybrid/genomes.py"], cwd=repo, check=True)
    assert "starting a fresh pass" in _helper(repo, "restore")
    assert not meta.exists() and not list((repo / "mutants").rglob("*.meta"))
