"""The test suite's mutation score per core module, from the results of `mutmut run` (see `make mutation`).

A mutant counts as caught when a test failed on it or it ran past mutmut's time limit; every other judged outcome
(survived, no test reached it) counts against the score. Mutants mutmut has not run yet (a stopped run continues
where it stopped) are counted apart and left out of the score. Prints a Markdown table for the README.

    mutmut run && python benchmarks/mutation_score.py
"""

from __future__ import annotations

import collections
import subprocess
import sys

CAUGHT = {"killed", "timeout"}
NOT_RUN = "not checked"


def outcomes() -> list[tuple[str, str]]:
    """(module, outcome) for every mutant mutmut made, read through its own `results` command."""
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], check=True,
                             capture_output=True, text=True).stdout
    pairs = []
    for line in listing.splitlines():
        name, _, outcome = line.strip().rpartition(": ")
        if name.startswith("evohybrid."):
            function = name.split("__mutmut_")[0]
            # mutmut names a method's mutant module.xǁClassǁmethod, a function's module.x_function
            module = function.split(".xǁ")[0] if ".xǁ" in function else function.rsplit(".x_", 1)[0]
            pairs.append((module, outcome))
    return pairs


def table(pairs: list[tuple[str, str]]) -> str:
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for module, outcome in pairs:
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
    pairs = outcomes()
    if not pairs:
        sys.exit("no mutation results: run `mutmut run` (or `make mutation`) first")
    print(table(pairs))
