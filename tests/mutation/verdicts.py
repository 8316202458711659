"""Keep mutmut's verdicts in the repository, so that a mutation pass of many hours accumulates across machines.

mutmut writes each mutant's verdict to `mutants/<source>.meta` (JSON) as it is judged, and when it makes the mutants
again it keeps the verdicts of every function whose code did not change. `restore` puts the kept verdicts into a
new `mutants/` before `mutmut run`; `keep` copies them here afterwards, a stopped pass included, with mutmut's map
of which tests reach which function (`mutmut-stats.json`: without it each sitting would first run the selected
tests once more to draw it, and mutmut updates it itself for tests added since):

    python tests/mutation/verdicts.py restore && mutmut run; python tests/mutation/verdicts.py keep

A pass is only continued while the package's and the tests' files keep their names: mutmut's map of which tests
reach which function outlives a move (a regrouped package once scored 43% on such a map), so a move or a rename
starts a fresh pass.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

KEPT = Path(__file__).with_name("verdicts")
MUTANTS = Path("mutants")
STAMP = ".sources"
STATS = "mutmut-stats.json"


def sources_stamp() -> str:
    """A digest of the names of the package's and the tests' files (this folder's own files left out)."""
    names = subprocess.run(["git", "ls-files", "evohybrid", "tests", ":(exclude)tests/mutation"], check=True,
                           capture_output=True, text=True).stdout
    return hashlib.sha256(names.encode()).hexdigest()[:16]


def _stamp_of(folder: Path) -> str | None:
    path = folder / STAMP
    return path.read_text().strip() if path.exists() else None


def restore() -> None:
    """Continue the pass in `mutants/`, else the kept one, else start afresh; `mutants/` then names today's files."""
    stamp = sources_stamp()
    if MUTANTS.exists() and _stamp_of(MUTANTS) != stamp:
        print("modules or tests were moved since mutants/ was made: starting a fresh pass")
        shutil.rmtree(MUTANTS)
    if not MUTANTS.exists() and _stamp_of(KEPT) == stamp:
        shutil.copytree(KEPT, MUTANTS)
        print(f"continuing the kept pass: {sum(1 for _ in MUTANTS.rglob('*.meta'))} files' verdicts from {KEPT}")
    MUTANTS.mkdir(exist_ok=True)
    (MUTANTS / STAMP).write_text(stamp + "\n")


def keep() -> None:
    """Copy the verdicts (and the test map) in `mutants/` here. A file that a stop cut off mid-write keeps its
    earlier copy here."""
    # Only the package's verdicts: mutants/ also holds a copy of tests/, this folder and its kept metas included.
    metas = sorted((MUTANTS / "evohybrid").rglob("*.meta"))
    if not metas:
        sys.exit("no verdicts in mutants/: run `make mutation` first")
    stamp = _stamp_of(MUTANTS) or sources_stamp()
    if _stamp_of(KEPT) != stamp:  # verdicts about files that have since moved are no use
        shutil.rmtree(KEPT, ignore_errors=True)
    kept = [path for path in [*metas, *MUTANTS.glob(STATS)] if _copy_if_whole(path)]
    (KEPT / STAMP).write_text(stamp + "\n")
    print(f"kept the verdicts of {sum(path.suffix == '.meta' for path in kept)} files in {KEPT}")


def _copy_if_whole(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except ValueError:
        print(f"{path} is not whole (the pass stopped while writing it): not kept")
        return False
    target = KEPT / path.relative_to(MUTANTS)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)
    return True


if __name__ == "__main__":
    commands = {"restore": restore, "keep": keep}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python {sys.argv[0]} restore|keep")
    commands[sys.argv[1]]()
