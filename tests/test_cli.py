"""The `evohybrid` command as a user runs it: one-line errors with exit code 2, a smoke search end to end,
`evaluate` from a pipe, and a search killed with SIGKILL that resumes without losing or repeating anything."""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

import evohybrid
from evohybrid.evolution.executors import LocalExecutor
from evohybrid.spaces.genome import Genome

TIMEOUT = 240
TINY_GENOME = evohybrid.load_space("tiny").sample(random.Random(0)).to_dict()
# A run whose front has one network below chance (1/10) and only two above it: no knee to promote.
KNEELESS_RUN = {"run/config.json": json.dumps({"config": evohybrid.Config().to_dict()}),
                "run/evaluations.jsonl": "".join(
                    json.dumps({"id": i, "genome": TINY_GENOME, "status": "ok", "val_acc": acc, "params": size}) + "\n"
                    for i, acc, size in [(0, 0.0975, 100), (1, 0.161, 200), (2, 0.2, 10_000)])}


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "EVOHYBRID_DATA"}
    env["PYTHONWARNINGS"] = ""  # the command decides what a warning looks like
    return env


def cli(*args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evohybrid.cli", *args], cwd=cwd, env=_env(), input=input,
                          capture_output=True, text=True, timeout=TIMEOUT)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit code 2, exactly one line on stderr that names the problem, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("evohybrid"), line
    assert "error" in line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


# -- user errors -----------------------------------------------------------------------------------------------------
# Each case: command-line arguments, standard input, the files the working folder holds first, and what the one
# line of stderr must name. The cases run concurrently (most load a config or a data set, which imports torch), then
# each test checks one of them.

ERROR_CASES: dict[str, tuple[list[str], str | None, dict[str, str], list[str]]] = {
    "budget-zero": (["search", "--budget", "0"], None, {}, ["--budget", "'0'"]),
    "budget-not-a-number": (["search", "--budget", "abc"], None, {}, ["--budget", "'abc'"]),
    "unknown-dataset": (["search", "--config", "smoke", "--executor", "local", "--out", "run", "--dataset", "nope"],
                        None, {}, ["data.dataset", "'nope'"]),
    "unknown-space": (["search", "--space", "nope"], None, {}, ["search space 'nope'"]),
    "unknown-algorithm": (["search", "--algorithm", "nope"], None, {}, ["search.algorithm", "'nope'"]),
    "invalid-yaml": (["search", "--config", "bad.yaml"], None, {"bad.yaml": "seed: 0\nfitness: [steps: 3\n"},
                     ["bad.yaml", "not valid YAML"]),
    "unknown-key": (["search", "--config", "cfg.yaml"], None, {"cfg.yaml": "fitness:\n  stepz: 3\n"},
                    ["fitness.stepz"]),
    "out-exists": (["search", "--config", "smoke", "--out", "existing"], None,
                   {"existing/precious.txt": "do not touch\n", "existing/evaluations.jsonl": '{"id": 0}\n'},
                   ["existing", "already exists"]),
    "resume-not-a-run": (["search", "--resume", "notarun"], None, {"notarun/file.txt": "x"},
                         ["notarun", "not a run directory"]),
    "data-missing-offline": (["search", "--config", "smoke", "--executor", "local", "--out", "run", "--dataset",
                              "cifar10", "--data-dir", "empty", "--no-download"], None, {"empty/": ""},
                             ["CIFAR10", "empty"]),
    "evaluate-bad-json": (["evaluate", "-", "--config", "smoke"], "{not json", {}, ["JSON"]),
    "recipe-without-study": (["study", "recipe", "nostudy", "--recipes", "r.yaml"], None,
                             {"r.yaml": "steps-80: {fitness: {steps: 80}}\n", "nostudy/": ""}, ["nostudy", "no proxy study"]),
    "algorithms-not-a-run": (["study", "algorithms", "notarun", "--out", "study"], None, {"notarun/file.txt": "x"},
                             ["notarun", "not a run directory"]),
    "promote-top-negative": (["study", "algorithms", "run", "--out", "study", "--promote-top", "-1"], None, {},
                             ["--promote-top", "non-negative integer", "'-1'"]),
    "workers-with-local-executor": (["search", "--config", "smoke", "--executor", "local", "--workers", "2"], None,
                                    {}, ["--workers", "--executor ray"]),
    "flag-on-resume": (["search", "--resume", "run", "--seed", "3"], None,
                       {"run/config.json": "{}\n", "run/evaluations.jsonl": ""}, ["--seed", "resumed"]),
    "time-budget-on-resume": (["search", "--resume", "run", "--time-budget", "60"], None,
                              {"run/config.json": "{}\n", "run/evaluations.jsonl": ""}, ["--time-budget", "resumed"]),
    "genome-file-unreadable": (["evaluate", "missing.json", "--config", "smoke"], None, {},
                               ["missing.json", "cannot read"]),
    "promote-bad-ids": (["promote", "run", "--ids", "3,x"], None, {}, ["--ids", "'3,x'"]),
    "promote-knee-without-a-knee": (["promote", "run", "--knee"], None, KNEELESS_RUN,
                                    ["'run' has no knee", "above chance (0.1000)", "--top 1"]),
    "recipes-invalid-yaml": (["study", "recipe", "study", "--recipes", "r.yaml"], None,
                             {"r.yaml": "steps: [80\n", "study/study.json": "{}\n"}, ["r.yaml", "not valid YAML"]),
    "address-not-host-port": (["search", "--config", "smoke", "--address", "nonsense", "--out", "run"], None, {},
                              ["--address", "not host:port"]),
    "address-port-out-of-range": (["search", "--config", "smoke", "--address", "127.0.0.1:99999", "--out", "run"],
                                  None, {}, ["--address", "not host:port"]),
    "screen-factor-without-signal": (["search", "--config", "smoke", "--screen-factor", "4", "--out", "run"], None,
                                     {}, ["search.screen_factor", "search.screen_signal"]),
    "screen-signal-that-trains": (["search", "--config", "smoke", "--screen-signal", "bn", "--screen-factor", "4",
                                   "--out", "run"], None, {}, ["'bn' needs training", "zero-cost"]),
    "no-screen-with-a-screen": (["search", "--config", "smoke", "--no-screen", "--screen-signal", "naswot", "--out",
                                 "run"], None, {}, ["--no-screen", "drop --screen-signal"]),
    "screen-factor-zero": (["search", "--screen-factor", "0"], None, {}, ["--screen-factor", "'0'"]),
    "ensemble-of-one": (["search", "--config", "one.yaml", "--selection", "ensemble", "--out", "run"], None,
                        {"one.yaml": "search:\n  ensemble: [bn]\n"}, ["search.ensemble", "at least two"]),
    "unknown-ensemble-signal": (["search", "--config", "bad.yaml", "--out", "run"], None,
                                {"bad.yaml": "search:\n  ensemble: [bn, grasp]\n"}, ["unknown signal 'grasp'"]),
    "repeats-zero": (["search", "--config", "bad.yaml", "--out", "run"], None,
                     {"bad.yaml": "fitness:\n  repeats: 0\n"}, ["fitness.repeats"]),
    "folds-zero": (["search", "--config", "bad.yaml", "--out", "run"], None,
                   {"bad.yaml": "fitness:\n  folds: 0\n"}, ["fitness.folds"]),
    "folds-beyond-the-smallest-class": (["search", "--config", "folds.yaml", "--out", "run"], None,
                                        {"folds.yaml": "data:\n  train_size: 200\n  val_size: 100\n"
                                                       "fitness:\n  folds: 100\n"},
                                        ["fitness.folds 100 is more than the", "use at most fitness.folds"]),
    "val-size-beyond-a-series-set": (["search", "--dataset", "ucr:GunPoint", "--space", "conv1d", "--out", "run"],
                                     None, {}, ["data.val_size", "ucr:GunPoint", "--config timeseries"]),
    "workers-zero": (["search", "--workers", "0"], None, {}, ["--workers", "'0'"]),
    "cpus-per-eval-no-node-holds": (["search", "--config", "smoke", "--cpus-per-eval", "4096", "--out", "run"], None,
                                    {}, ["--cpus-per-eval 4096", "no node of the Ray cluster"]),
    "worker-timeout-with-local-executor": (["search", "--config", "smoke", "--executor", "local", "--worker-timeout",
                                            "5"], None, {}, ["--worker-timeout", "--executor ray"]),
    "study-too-few": (["study", "proxy", "--config", "smoke", "--n", "5", "--out", "study"], None, {},
                      ["--n 5", "at least 10"]),
}


def _populate(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


@pytest.fixture(scope="module")
def error_runs(tmp_path_factory, folder_listing) -> dict[str, tuple[subprocess.CompletedProcess, dict, dict]]:
    """case -> (finished command, folder listing before, folder listing after)."""
    prepared = {}
    for case, (args, stdin, files, _fragments) in ERROR_CASES.items():
        folder = tmp_path_factory.mktemp(case)
        _populate(folder, files)
        prepared[case] = (folder, folder_listing(folder))
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {case: pool.submit(cli, *ERROR_CASES[case][0], cwd=prepared[case][0], input=ERROR_CASES[case][1])
                   for case in ERROR_CASES}
        results = {case: future.result() for case, future in futures.items()}
    return {case: (results[case], prepared[case][1], folder_listing(prepared[case][0])) for case in ERROR_CASES}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_user_error_is_one_line_with_exit_code_2(error_runs, case):
    result, _before, _after = error_runs[case]
    assert_user_error(result, *ERROR_CASES[case][3])
    assert result.stdout == ""


@pytest.mark.parametrize("case", ERROR_CASES)
def test_user_error_writes_nothing(error_runs, case):
    _result, before, after = error_runs[case]
    assert after == before  # no run directory, no results/ folder, existing files untouched


# Run in a fresh interpreter: the test process itself has imported everything already.
NO_HEAVY_IMPORTS = """
import sys
import evohybrid.config, evohybrid.cli
for argv in (["--help"], ["search", "--budget", "0"], ["search", "--algorithm", "nope"], ["pareto"]):
    try:
        evohybrid.cli.main(argv)
    except SystemExit:
        pass
print(sorted({name.split(".")[0] for name in sys.modules} & {"torch", "ray", "matplotlib", "plotly", "deap", "numpy"}))
"""


def test_help_and_usage_errors_import_no_heavy_library(tmp_path):
    result = subprocess.run([sys.executable, "-c", NO_HEAVY_IMPORTS], cwd=tmp_path, env=_env(), capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
    assert "search.algorithm must be one of" in result.stderr


def test_version_names_the_installed_package(tmp_path):
    result = cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"evohybrid {version('evohybrid')}"


# -- a real run ------------------------------------------------------------------------------------------------------

def test_smoke_search_end_to_end(tmp_path):
    """The command a new user runs first. In-process evaluation keeps it fast and deterministic; the default Ray
    executor runs the same command in tests/test_ray.py."""
    result = cli("search", "--config", "smoke", "--out", "run", "--executor", "local", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    run = tmp_path / "run"
    assert {"config.json", "evaluations.jsonl", "state.json"} <= {p.name for p in run.iterdir()}
    lines = (run / "evaluations.jsonl").read_text().splitlines()
    assert len(lines) == 12
    records = [json.loads(line) for line in lines]
    assert sorted(record["id"] for record in records) == list(range(12))
    assert len({record["hash"] for record in records}) == 12
    assert json.loads((run / "config.json").read_text())["config"] == evohybrid.load_config("smoke").to_dict()
    json.loads((run / "state.json").read_text())
    assert "Pareto front" in result.stdout
    assert "run directory: run" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no stray results/ folder


def test_evaluate_a_genome_from_a_pipe(tmp_path):
    sample = cli("space", "sample", "1", "--space", "tiny", "--seed", "5", cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    assert len(sample.stdout.splitlines()) == 1
    genome = Genome.from_json(sample.stdout)
    assert genome == evohybrid.load_space("tiny").sample(random.Random(5))  # the same seed as the API

    result = cli("evaluate", "-", "--config", "smoke", "--check-space", cwd=tmp_path, input=sample.stdout)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["status"] == "ok", record
    assert record["hash"] == genome.hash
    assert 0.0 <= record["val_acc"] <= 1.0


def _complete_records(path: Path) -> list[bytes]:
    """The newline-terminated lines of the log (a line cut by the kill has no newline yet)."""
    data = path.read_bytes() if path.exists() else b""
    return [line + b"\n" for line in data.split(b"\n")[:-1] if line.strip()]


def kill_search_once_logged(tmp_path: Path, args: list[str], lines: int) -> list[bytes]:
    """Run `evohybrid search ARGS --out run --executor local --quiet` in `tmp_path`, SIGKILL it once its log holds
    `lines` complete records, and return the complete lines it left."""
    log = tmp_path / "run" / "evaluations.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "evohybrid.cli", "search", *args, "--out", "run", "--executor",
                             "local", "--quiet"], cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(_complete_records(log)) < lines:  # wait for a condition, polling
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the search logged nothing in time"
            time.sleep(0.02)
        proc.kill()
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -9
    return _complete_records(log)


def kill_and_resume(tmp_path: Path, config: evohybrid.Config, budget: int, lines: int,
                    split) -> tuple[list[bytes], list[dict], list[dict]]:
    """Search `config` with the CLI, SIGKILL it once `lines` records are logged, resume it to the end; return the
    complete lines left by the kill, the records after the resume (checking that none of those lines was lost or
    rewritten), and the records of the same search run here without a stop."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(config.to_dict()))))
    before = kill_search_once_logged(tmp_path, ["--config", "config.yaml", "--budget", str(budget)], lines)
    resumed = subprocess.run([sys.executable, "-m", "evohybrid.cli", "search", "--resume", "run", "--executor",
                              "local", "--quiet"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                             timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    after = _complete_records(tmp_path / "run" / "evaluations.jsonl")
    assert after[:len(before)] == before  # no line lost or rewritten
    reference = evohybrid.search(config, out=tmp_path / "reference", budget=budget, progress=False,
                                 executor_factory=lambda cfg: LocalExecutor(cfg, split))
    return before, [json.loads(line) for line in after], reference.records


def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path, smoke_config, smoke_split):
    budget = 30
    log = tmp_path / "run" / "evaluations.jsonl"
    before = kill_search_once_logged(tmp_path, ["--config", "smoke", "--budget", str(budget)], 3)
    assert 3 <= len(before) < budget, "the kill must land mid-run"

    result = cli("search", "--resume", "run", "--executor", "local", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    after = _complete_records(log)
    assert after[:len(before)] == before  # no line lost or rewritten
    records = [json.loads(line) for line in after]
    assert len(records) == budget
    assert sorted(record["id"] for record in records) == list(range(budget))
    assert len({record["hash"] for record in records}) == budget
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["next_id"] == budget and state["pending"] == []

    # And it is the run that would have happened without the kill.
    reference = evohybrid.search(smoke_config, out=tmp_path / "reference", budget=budget, progress=False,
                                 executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split))
    assert [r["hash"] for r in sorted(records, key=lambda r: r["id"])] == \
           [r["hash"] for r in sorted(reference.records, key=lambda r: r["id"])]
