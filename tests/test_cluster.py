"""A search on a real multi-node Ray cluster on 127.0.0.1 (cluster_nodes.py), while nodes die and join: no hang, no
genome lost or duplicated, the pool says what happened."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import evohybrid
from evohybrid.evolution.executors import LocalExecutor
from search_processes import cli, records, wait_for_lines

BUDGET = 16
NODES_SCRIPT = Path(__file__).with_name("cluster_nodes.py")


class LoopbackCluster:
    """The cluster of cluster_nodes.py, driven from the test; it requires a token, as a real cluster should."""

    def __init__(self) -> None:
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.process = subprocess.Popen([sys.executable, str(NODES_SCRIPT)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env,
                                        start_new_session=True)
        self.address = self._answer("address")
        self.workers: list[str] = []  # node ids of the live worker nodes

    def _answer(self, kind: str) -> str:
        line = self.process.stdout.readline().split()
        assert line and line[0] == kind, f"the cluster process answered {line}"
        return line[1] if len(line) > 1 else ""

    def add(self) -> str:
        self.process.stdin.write("add\n")
        self.process.stdin.flush()
        self.workers.append(self._answer("node"))
        return self.workers[-1]

    def kill(self, node_id: str) -> None:
        self.process.stdin.write(f"kill {node_id}\n")
        self.process.stdin.flush()
        self._answer("killed")
        self.workers.remove(node_id)

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def head():
    cluster = LoopbackCluster()
    yield cluster
    cluster.close()


@pytest.fixture
def cluster(head):
    """The shared head; each test adds the worker nodes it needs, and those still alive are killed after it."""
    yield head
    for node_id in list(head.workers):
        head.kill(node_id)


@pytest.fixture
def search(tmp_path, cluster):
    """Runs `evohybrid search ARGS --address <the cluster> --out run --quiet` in tmp_path; a search a failed test
    left running is killed before the nodes go (it would take the next test's nodes)."""
    started: list[subprocess.Popen] = []

    def run(*args: str) -> subprocess.Popen:
        started.append(cli("search", *args, "--address", cluster.address, "--quiet", cwd=tmp_path, env=cluster.env))
        return started[-1]

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[str]:
    """Genome hashes by id of an uninterrupted smoke search: what a resumed one must propose."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result = evohybrid.search(evohybrid.load_config("smoke"), out=out, budget=BUDGET, progress=False,
                              executor_factory=LocalExecutor)
    return [r["hash"] for r in sorted(result.records, key=lambda r: r["id"])]


def test_a_cluster_with_no_worker_node_yet_is_one_line_that_says_to_start_one(tmp_path, search):
    """Its head holds no CPU: no flag of ours would help, so the line names the remedy, not --cpus-per-eval."""
    proc = search("--config", "smoke", "--budget", "2", "--out", "run")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    assert stderr.strip().splitlines() == ["evohybrid: error: no node of the Ray cluster has a CPU for a worker: start "
                                           "a worker node with 'ray start --address <the head>', or leave out "
                                           "--address to run on this machine"]
    assert not (tmp_path / "run").exists()


def test_a_worker_node_lost_mid_search_loses_and_repeats_nothing(tmp_path, cluster, search, uninterrupted):
    cluster.add(), cluster.add()
    proc = search("--config", "smoke", "--budget", str(BUDGET), "--out", "run")
    wait_for_lines(tmp_path / "run" / "evaluations.jsonl", 4, proc)
    proc.send_signal(signal.SIGSTOP)  # the search waits while the node dies: it cannot finish before the loss
    try:
        assert len(records(tmp_path / "run")) <= BUDGET // 2, "the search ran ahead of the test"
        cluster.kill(records(tmp_path / "run")[0]["node_id"])  # a node known to hold a worker
    finally:
        proc.send_signal(signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=300)  # bounded: a hang fails here
    assert proc.returncode == 0, stderr
    assert "evohybrid: 2 -> 1 workers: node 127.0.0.1 lost" in stderr.splitlines()
    found = sorted(records(tmp_path / "run"), key=lambda r: r["id"])
    assert [r["id"] for r in found] == list(range(BUDGET))  # none lost, none twice
    assert all(r["status"] == "ok" for r in found)  # none failed for its node's death
    assert [r["hash"] for r in found] == uninterrupted  # and the search is the one it would have been
    assert "workers: 2 (1 lost on the way)" in stdout


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["following-the-cluster", "two-asked-for"])
def test_a_node_that_joins_mid_search_gets_workers(tmp_path, cluster, search, workers):
    cluster.add()
    proc = search("--config", "smoke", "--budget", "1000", *workers, "--out", "run")
    wait_for_lines(tmp_path / "run" / "evaluations.jsonl", 2, proc)
    joined = cluster.add()
    deadline = time.monotonic() + 120
    while not any(r.get("node_id") == joined for r in records(tmp_path / "run")):
        assert proc.poll() is None and time.monotonic() < deadline, "no record from the node that joined"
        time.sleep(0.2)  # polls a condition
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    lines = stderr.splitlines()
    started = [line for line in lines if line.startswith("evohybrid: 1 -> 2 workers:")]
    assert len(started) == 1, stderr
    # Ray may start either worker first; the second start is the news
    assert re.fullmatch(r"evohybrid: 1 -> 2 workers: ray-[01] started on node 127\.0\.0\.1", started[0]), stderr
    if workers:  # more than fit: said once, at the start
        assert lines[0] == ("evohybrid: 1 of 2 workers wait for resources (the cluster holds 1 now); the others "
                            "work meanwhile")


def test_every_node_but_the_head_lost_stops_in_bounded_time_and_resume_finishes(tmp_path, cluster, search,
                                                                                 uninterrupted):
    cluster.add(), cluster.add()
    proc = search("--config", "smoke", "--budget", str(BUDGET), "--worker-timeout", "3", "--out", "run")
    wait_for_lines(tmp_path / "run" / "evaluations.jsonl", 2, proc)
    for node_id in list(cluster.workers):
        cluster.kill(node_id)
    _, stderr = proc.communicate(timeout=120)  # bounded: a hang fails here
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == ("evohybrid: error: no Ray worker has been alive for 3 s (every node that "
                                       "could hold one is gone): every finished evaluation is saved; resume with "
                                       "'evohybrid search --resume run'")
    before = records(tmp_path / "run")
    assert before and all(r["status"] == "ok" for r in before)
    cluster.add()
    resumed = search("--resume", "run")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    after = records(tmp_path / "run")
    assert after[:len(before)] == before
    assert [r["hash"] for r in sorted(after, key=lambda r: r["id"])] == uninterrupted
