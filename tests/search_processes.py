"""Searches run as a user runs them, in a subprocess, and read back from their run folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def records(run_dir: Path) -> list[dict]:
    """The run's records; a last line still being written (no newline yet) is left out, as the store does."""
    lines = (run_dir / "evaluations.jsonl").read_text().split("\n")[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def cli(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evohybrid.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    """Wait (a condition, not a fixed sleep) until the log holds `count` records or the process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and len([l for l in path.read_text().splitlines() if l.strip()]) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {count} lines (process returned {proc.poll()})")
