"""The test suite's mutation score per core module, from the results of `mutmut run` (see `make mutation`).

A mutant counts as caught when a test failed on it, it crashed the tests or it ran past mutmut's time limit; every
other judged outcome (survived, no test reached it) counts against the score. Mutants mutmut has not run yet (a
stopped run continues where it stopped) are counted apart and left out of the score. Prints a Markdown table for the
docs.

    mutmut run && python tests/mutation/score.py
    python tests/mutation/score.py --check-survivors   # survivors that tests/mutation/survivors.md misses

Every survivor is listed in tests/mutation/survivors.md with why; `--check-survivors` names the survivors it does
not list and the names it lists that no longer survive (mutmut renumbers the mutants of a function that changed).
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

# mutmut calls a mutant whose tests died of SIGKILL a "segfault": its CPU limit sends SIGKILL a second after SIGXCPU,
# so a mutant that loops in native code (numpy) ends that way. Crashed or stopped at its limit, it is caught.
CAUGHT = {"killed", "timeout", "segfault"}
NOT_RUN = "not checked"
SURVIVORS_FILE = Path(__file__).with_name("survivors.md")


def outcomes() -> list[tuple[str, str, str]]:
    """(mutant, module, outcome) for every mutant mutmut made, read through its own `results` command."""
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], check=True,
                             capture_output=True, text=True).stdout
    mutants = []
    for line in listing.splitlines():
        name, _, outcome = line.strip().rpartition(": ")
        if name.startswith("evohybrid."):
            function = name.split("__mutmut_")[0]
            # mutmut names a method's mutant module.xǁClassǁmethod, a function's module.x_function
            module = function.split(".xǁ")[0] if ".xǁ" in function else function.rsplit(".x_", 1)[0]
            mutants.append((name, module, outcome))
    return mutants


def listed_survivors(text: str) -> set[str]:
    """The mutants the survivors file names: `- \`name\`: why` lines under a `### module` heading."""
    names, module = set(), ""
    for line in text.splitlines():
        if line.startswith("### "):
            module = line[4:].strip()
        elif match := re.match(r"- `([^`]+)`:", line):
            names.add(f"{module}.{match.group(1)}")
    return names


def table(mutants: list[tuple[str, str, str]]) -> str:
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for _, module, outcome in mutants:
        by_module[module][outcome] += 1
    rows = ["| module | mutants | not run yet | caught | survived | not reached by a test | score of those run |",
            "|---|---|---|---|---|---|---|"]
    totals: collections.Counter = collections.Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        totals.update(counts)
        rows.append(_row(module, counts))
    rows.append(_row("**all core modules**", totals))
    return "\n".join(rows)


def _row(label: str, counts: collections.Counter) -> str:
    total = sum(counts.values())
    judged = total - counts[NOT_RUN]
    caught = sum(counts[outcome] for outcome in CAUGHT)
    score = f"{caught / judged:.0%}" if judged else "-"
    return (f"| {label} | {total} | {counts[NOT_RUN]} | {caught} | {counts['survived']} | {counts['no tests']} | "
            f"{score} |")


if __name__ == "__main__":
    mutants = outcomes()
    if not mutants:
        sys.exit("no mutation results: run `mutmut run` (or `make mutation`) first")
    if sys.argv[1:] == ["--check-survivors"]:
        survived = {name for name, _, outcome in mutants if outcome == "survived"}
        listed = listed_survivors(SURVIVORS_FILE.read_text())
        for name in sorted(survived - listed):
            print(f"not listed: {name}")
        for name in sorted(listed - survived):
            print(f"listed but not a survivor: {name}")
        sys.exit(1 if survived != listed else 0)
    print(table(mutants))
