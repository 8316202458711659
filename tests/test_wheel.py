"""The built wheel works away from the checkout: it ships the search spaces and configs, and its console script
runs a search from a folder that holds nothing of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "evohybrid", "search_spaces", "configs")
TIMEOUT = 600


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def test_the_wheel_installs_and_searches_away_from_the_checkout(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:  # a copy, so building leaves nothing in the checkout
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, source / name)
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir",
                 str(tmp_path / "dist"), str(source), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("evohybrid-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("search_spaces/default.yaml", "search_spaces/tiny.yaml", "configs/default.yaml",
                    "configs/smoke.yaml"):
        assert f"evohybrid/{shipped}" in names

    site = tmp_path / "site"
    installed = _run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(site),
                     str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = _run(sys.executable, "-c", "import evohybrid; print(evohybrid.__file__)", cwd=elsewhere, env=env)
    assert where.stdout.strip().startswith(str(site)), where.stdout  # the installed package, not the checkout
    search = _run(str(site / "bin" / "evohybrid"), "search", "--config", "smoke", "--budget", "2", "--out", "run",
                  "--quiet", cwd=elsewhere, env=env)
    assert search.returncode == 0, search.stderr
    assert len((elsewhere / "run" / "evaluations.jsonl").read_text().splitlines()) == 2
