"""The docs as a user meets them: the site builds with warnings as errors, the CLI reference names every command and
flag, and every shell example of the getting-started page runs as it stands."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path


from evohybrid.cli import build_parser
from evohybrid.cli.reference import commands, options, reference_markdown

ROOT = Path(__file__).resolve().parent.parent
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_cli_reference_names_every_command_and_every_flag():
    parser = build_parser()
    page = reference_markdown(parser)
    every = [("evohybrid", parser), *((path, sub) for path, _help, sub in commands(parser))]
    assert {"evohybrid search", "evohybrid space sample", "evohybrid study proxy"} <= {path for path, _ in every}
    for path, sub in every:
        section = page.split(f"\n## {path}\n", 1)[1].split("\n## ", 1)[0]
        for action in options(sub):
            for name in action.option_strings or [action.metavar or action.dest]:
                assert f"`{name}`" in section, (path, name)


def test_a_help_text_cannot_break_the_reference_table():
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--out", help="a folder, e.g. results/<run> | another\nline")
    row = [line for line in reference_markdown(parser).splitlines() if line.startswith("| `--out`")]
    assert row == ["| `--out` *OUT* | a folder, e.g. results/&lt;run&gt; \\| another line |"]


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    site = tmp_path / "site"
    assert "evohybrid search" in (site / "reference" / "cli" / "index.html").read_text()
    assert (site / "studies" / "fashion-mnist-60" / "index.html").exists()
    assert "load_exported" in (site / "reference" / "api" / "index.html").read_text()


def test_every_shell_example_of_getting_started_runs(tmp_path):
    blocks = BASH_BLOCK.findall(GETTING_STARTED.read_text())
    assert len(blocks) >= 5
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for block in blocks:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, (block, result.stderr[-3000:])
    assert (tmp_path / "results" / "first" / "report.html").exists()
    assert (tmp_path / "model.pt").exists()
