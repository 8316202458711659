"""How fast the `evohybrid` command answers when it has nothing to run: `--help`, `--version` and one-line usage
errors, each the median wall time of several fresh processes, beside `import torch` in the same run (what every
command paid before the CLI imported its heavy parts lazily).

    python benchmarks/cli_speed.py              # 7 runs of each
    python benchmarks/cli_speed.py --runs 21
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "evohybrid --help": ["-m", "evohybrid.cli", "--help"],
    "evohybrid --version": ["-m", "evohybrid.cli", "--version"],
    "evohybrid search --budget 0": ["-m", "evohybrid.cli", "search", "--budget", "0"],
    "evohybrid search --algorithm nope": ["-m", "evohybrid.cli", "search", "--algorithm", "nope"],
    "evohybrid promote RUN (no choice)": ["-m", "evohybrid.cli", "promote", "run"],
    "python -c 'import torch' (reference)": ["-c", "import torch"],
}


def median_wall(args: list[str], runs: int, folder: str) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=folder, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:  # nothing a command might write lands in the tree
        walls = {name: median_wall(command, args.runs, folder) for name, command in COMMANDS.items()}
    reference = walls["python -c 'import torch' (reference)"]
    for name, wall in walls.items():
        print(f"{name:<40} {wall:6.2f} s  ({wall / reference:.2f} of importing torch)")


if __name__ == "__main__":
    main()
