"""The Ray executor, with real Ray on 127.0.0.1: a worker pool, a killed worker, an existing cluster."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import evohybrid
from evohybrid.evolution.executors import LocalExecutor
from evohybrid.distributed.ray_executor import RayExecutor, RayOptions
from search_processes import cli as _cli, records as _records, wait_for_lines as _wait_for_lines

RAY_BIN = Path(sys.executable).parent / "ray"
LOOPBACK = ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]")


def _listening_sockets_of(pids: set[int]) -> list[str]:
    output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    addresses = []
    for line in output.splitlines():
        fields = line.split()
        if any(f"pid={pid}," in line for pid in pids):
            addresses.append(fields[3].rsplit(":", 1)[0])
    return addresses


def _ray_pids() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "ray" in cmdline or "gcs_server" in cmdline:
                pids.add(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def local_ray():
    """One Ray started as evohybrid starts it (on loopback), declaring 16 logical CPUs whatever the machine has,
    for the tests that drive RayExecutor in this process: each search joins it, as one in a Ray program would,
    instead of paying for a Ray of its own. Stopped at the end of the module."""
    from evohybrid.distributed.ray_runtime import connect_ray, import_ray

    ray = import_ray()  # imported as evohybrid imports it: on loopback
    connect_ray(num_cpus=16)
    yield
    ray.shutdown()


def test_two_workers_share_a_search_and_stay_on_loopback(tmp_path, local_ray):
    config = evohybrid.load_config("smoke")
    executors = []

    def factory(cfg):
        executor = RayExecutor(cfg, RayOptions(workers=2))
        executors.append(executor)
        # While the pool is up, nothing evohybrid started may listen beyond loopback.
        addresses = _listening_sockets_of(_ray_pids() | {os.getpid()})
        assert addresses, "expected Ray's processes to listen somewhere"
        assert all(address in LOOPBACK for address in addresses), addresses
        return executor

    result = evohybrid.search(config, out=tmp_path / "run", budget=10, executor_factory=factory, progress=False)
    records = _records(tmp_path / "run")
    assert len(records) == 10 and len({r["hash"] for r in records}) == 10
    assert {r["worker"] for r in records} == {"ray-0", "ray-1"}
    assert all(r["node"] and r["pid"] for r in records)
    assert result.executor_stats["workers"] == 2
    assert 0 < result.executor_stats["utilisation"] <= 1


@pytest.mark.parametrize("search", [{}, {"rungs": [{"steps": 20}], "rung_fraction": 0.5},
                                    {"screen_signal": "naswot", "screen_factor": 3}],
                         ids=["one-fidelity", "multi-fidelity", "screened"])
def test_generational_nsga2_proposes_the_same_genomes_whatever_the_worker_count(tmp_path, search, local_ray):
    # Multi-fidelity: upgrades run beside new genomes on two workers, and only new genomes count toward the budget.
    # Screened: the workers score each generation's offspring, split between them. (An ensemble's independence of
    # the order of arrival is checked by hand in test_selection.py.)
    config = evohybrid.load_config("smoke").override("search", **search)
    one = evohybrid.search(config, out=tmp_path / "one", budget=12, progress=False)
    two = evohybrid.search(config, out=tmp_path / "two", budget=12, progress=False,
                           executor_factory=lambda cfg: RayExecutor(cfg, RayOptions(workers=2)))
    by_id = lambda result: [(r["hash"], r.get("rung", 0)) for r in sorted(result.records, key=lambda r: r["id"])]
    assert by_id(one) == by_id(two)
    assert sum(rung == 0 for _, rung in by_id(two)) == 12


def test_a_killed_workers_genome_is_retried_and_the_pool_says_so(tmp_path):
    proc = _cli("search", "--config", "smoke", "--budget", "16", "--workers", "2", "--out", "run", "--quiet",
                cwd=tmp_path)
    log = tmp_path / "run" / "evaluations.jsonl"
    _wait_for_lines(log, 2, proc)
    victim = _records(tmp_path / "run")[0]["pid"]  # a worker process known to be up, whichever it is
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    records = _records(tmp_path / "run")
    assert len(records) == 16
    assert len({r["hash"] for r in records}) == 16
    assert sorted(r["id"] for r in records) == list(range(16))
    assert victim not in {r["pid"] for r in records[-4:]}  # the dead worker took no genome after its death
    # The genome it held was retried (none is failed) and is in the log as ok.
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records if r["status"] != "ok"]
    assert "workers: 2 (1 lost on the way)" in stdout
    slot = next(r["worker"] for r in records if r["pid"] == victim)
    assert f"evohybrid: 2 -> 1 workers: {slot} died" in stderr.splitlines()  # the pool says so as it happens


def test_a_genome_whose_worker_dies_with_no_retries_left_is_failed_and_the_run_goes_on(tmp_path, local_ray):
    budget = 10
    log = tmp_path / "run" / "evaluations.jsonl"
    killed: list[int] = []
    finished = threading.Event()

    def kill_the_worker() -> None:
        """SIGKILL the only worker once it has logged two genomes (it then holds, or is next sent, the third)."""
        while not finished.is_set():
            complete = log.read_text().split("\n")[:-1] if log.exists() else []  # not a line still being written
            if len(complete) >= 2:
                killed.append(json.loads(complete[0])["pid"])
                os.kill(killed[0], signal.SIGKILL)
                return
            finished.wait(0.05)  # polls a condition; returns at once when the search has ended

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    try:
        result = evohybrid.search(evohybrid.load_config("smoke"), out=tmp_path / "run", budget=budget,
                                  progress=False,
                                  executor_factory=lambda cfg: RayExecutor(cfg, RayOptions(workers=1, max_retries=0)))
    finally:
        finished.set()
        killer.join()
    assert killed, "the worker was not killed"
    records = _records(tmp_path / "run")
    assert sorted(r["id"] for r in records) == list(range(budget))  # the budget is still spent in full
    assert len({r["hash"] for r in records}) == budget  # the failed genome was not tried again
    failed = [r for r in records if r["status"] != "ok"]
    assert [r["status"] for r in failed] == ["failed"] and "worker died (1 attempt, no retry left)" in failed[0]["error"]
    assert failed[0]["worker"] == "ray-0"  # the record names the slot that lost it
    # One worker takes genomes one at a time in id order, so the genome lost with it is the one after the last it
    # finished, whether it was being evaluated or only just sent when the kill landed.
    assert failed[0]["id"] == max(r["id"] for r in records if r.get("pid") == killed[0]) + 1
    assert all(r["pid"] != killed[0] for r in records if r["id"] > failed[0]["id"])  # its successor took over
    assert result.executor_stats["lost_workers"] == 1


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[int, list[str]]:
    """Genome hashes by id of uninterrupted smoke searches, by budget: what a resumed run must propose."""
    cache: dict[int, list[str]] = {}

    def hashes(budget: int) -> list[str]:
        if budget not in cache:
            out = tmp_path_factory.mktemp("reference") / "run"
            result = evohybrid.search(evohybrid.load_config("smoke"), out=out, budget=budget, progress=False,
                                      executor_factory=LocalExecutor)
            cache[budget] = [r["hash"] for r in sorted(result.records, key=lambda r: r["id"])]
        return cache[budget]

    return hashes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _ray_head(env: dict[str, str]):
    """A real `ray start --head` on 127.0.0.1 under `env`, stopped at the end (only this cluster's processes)."""
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="evo-ray-")
    head = subprocess.Popen([str(RAY_BIN), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp_dir}"], env={**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # wait for the head's port to accept connections (a condition, polled)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        # SIGKILL at once: a test cluster has nothing to save, and a blocked `ray start` takes seconds over SIGTERM.
        ours = {pid for pid in _ray_pids() if temp_dir in _cmdline(pid) or f":{port}" in _cmdline(pid)}
        for target in [head.pid, *ours]:
            try:
                os.killpg(target, signal.SIGKILL) if target == head.pid else os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        head.wait(timeout=30)


def _without_ray_auth(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if not key.startswith("RAY_AUTH")}


@pytest.fixture(scope="module")
def local_cluster():
    """A cluster that requires a token, as a real multi-node cluster should; the client gets it from the environment.
    Shared by the tests of this module that join it (each leaves it as it found it: no actor outlives a search)."""
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    with _ray_head({**os.environ, **auth}) as address:
        yield address, auth


@pytest.fixture(params=["token-in-home", "no-token"])
def plain_cluster(request, tmp_path_factory):
    """The README's cluster commands as typed, nothing set: `ray start --head` in a home folder that holds
    ~/.ray/auth_token (as after any local Ray 2.60 run, which makes one; Ray then requires it) or none; returns the
    address and that machine's environment."""
    home = tmp_path_factory.mktemp("home")
    if request.param == "token-in-home":
        (home / ".ray").mkdir()
        (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    env = {**_without_ray_auth(os.environ), "HOME": str(home)}
    with _ray_head(env) as address:
        yield address, env


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_search_joins_an_existing_cluster(tmp_path, local_cluster):
    address, auth = local_cluster
    proc = _cli("search", "--config", "smoke", "--budget", "6", "--address", address, "--out", "run",
                "--quiet", cwd=tmp_path, env={**os.environ, **auth})
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    records = _records(tmp_path / "run")
    assert len(records) == 6 and all(r["node"] == "127.0.0.1" for r in records)
    assert "workers: 2" in stdout


def test_the_readme_cluster_commands_work_verbatim(tmp_path, plain_cluster):
    address, env = plain_cluster
    proc = _cli("search", "--config", "smoke", "--budget", "2", "--address", address, "--out", "run", "--quiet",
                cwd=tmp_path, env=env)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert len(_records(tmp_path / "run")) == 2


def _one_line_error(tmp_path: Path, address: str, env: dict[str, str]) -> str:
    proc = _cli("search", "--config", "smoke", "--budget", "2", "--address", address, "--out", "run", "--quiet",
                cwd=tmp_path, env=env)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, (stdout, stderr)
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert not (tmp_path / "run").exists()
    return stderr


def test_a_wrong_token_is_one_line_that_names_the_token(tmp_path, local_cluster):
    address, _ = local_cluster
    env = {**_without_ray_auth(os.environ), "HOME": str(tmp_path), "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    assert "token" in _one_line_error(tmp_path, address, env)


def test_an_address_where_nothing_answers_is_one_line(tmp_path):
    """(Addresses that are not host:port are user errors of tests/test_cli.py.)"""
    assert "nothing answers" in _one_line_error(tmp_path, f"127.0.0.1:{_free_port()}", dict(os.environ))


# SIGTERM under Ray (whose own handler must not win); SIGHUP with the local executor, the same handler without Ray.
@pytest.mark.parametrize("signum, code, executor", [(signal.SIGTERM, 143, ["--workers", "2"]),
                                                    (signal.SIGHUP, 129, ["--executor", "local"])])
def test_a_stop_signal_saves_the_run_says_how_to_resume_and_resume_finishes_it(tmp_path, signum, code, executor,
                                                                             uninterrupted):
    budget = 16
    proc = _cli("search", "--config", "smoke", "--budget", str(budget), *executor, "--out", "run", "--quiet",
                cwd=tmp_path)
    log = tmp_path / "run" / "evaluations.jsonl"
    _wait_for_lines(log, 2, proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "PC: @" not in stderr and "received" not in stderr, stderr
    assert stderr.strip().splitlines() == [f"evohybrid: stopped by {signal.Signals(signum).name}: every finished "
                                           "evaluation is saved; resume with 'evohybrid search --resume run'"]
    before = _records(tmp_path / "run")
    assert 2 <= len(before) < budget
    _resume_finishes_the_uninterrupted_run(tmp_path, before, uninterrupted(budget), "--executor", "local")


def _resume_finishes_the_uninterrupted_run(tmp_path: Path, before: list[dict], expected: list[str],
                                           *flags: str) -> None:
    """`--resume` (with executor `flags`) keeps every record it finds, loses and repeats nothing, and (generational
    NSGA-II) proposes the genomes an uninterrupted run proposes."""
    resumed = _cli("search", "--resume", "run", "--quiet", *flags, cwd=tmp_path)
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    after = _records(tmp_path / "run")
    assert after[:len(before)] == before
    assert sorted(r["id"] for r in after) == list(range(len(expected)))
    assert [r["hash"] for r in sorted(after, key=lambda r: r["id"])] == expected


def _session_processes(driver_pid: int, name: str) -> list[int]:
    """The pids of the `name` processes (raylet, gcs_server) of the Ray that the driver `driver_pid` started."""
    return [pid for pid in _ray_pids() if f"_{driver_pid}/" in _cmdline(pid) and f"/{name} " in _cmdline(pid)]


@pytest.mark.parametrize("victim", ["raylet", "gcs_server"])
def test_a_dead_local_ray_stops_the_search_in_bounded_time_and_resume_finishes_it(tmp_path, victim, uninterrupted):
    budget = 16  # the stop-signal test's: one uninterrupted reference run serves both
    proc = _cli("search", "--config", "smoke", "--budget", str(budget), "--workers", "2", "--out", "run", "--quiet",
                cwd=tmp_path)
    _wait_for_lines(tmp_path / "run" / "evaluations.jsonl", 2, proc)
    targets = _session_processes(proc.pid, victim)
    assert targets, f"no {victim} of this search found"
    if victim == "raylet":  # the node dies with its workers
        targets += [int(pid) for target in targets for pid in subprocess.run(
            ["pgrep", "-P", str(target)], capture_output=True, text=True).stdout.split()]
    for pid in targets:
        os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)  # bounded: a hang fails here
    if victim == "gcs_server" and proc.returncode == 0:
        # The workers and their raylet outlive the GCS; a search that needs nothing new from it may finish.
        assert [r["hash"] for r in sorted(_records(tmp_path / "run"), key=lambda r: r["id"])] == uninterrupted(budget)
        return
    assert proc.returncode == 1, (stdout, stderr)
    assert stderr.strip().splitlines() == [f"evohybrid: error: the local Ray stopped ({victim} died): every finished "
                                           "evaluation is saved; resume with 'evohybrid search --resume run'"]
    before = _records(tmp_path / "run")
    assert all(r["status"] == "ok" for r in before)  # no genome blamed for the node's death
    # After the raylet, a fresh local Ray takes over; after the GCS, the local executor (a Ray start less to wait for).
    flags = () if victim == "raylet" else ("--executor", "local")
    _resume_finishes_the_uninterrupted_run(tmp_path, before, uninterrupted(budget), *flags)


def test_sixteen_actors_share_a_search_and_a_killed_one_is_replaced(tmp_path, local_ray):
    """The pool, its retries and the driver with 16 actors at once (each actor's start costs seconds of CPU, so more
    would only slow the suite). Starting them all takes far longer than the 1 s worker timeout: workers starting
    where there is room are slow, not lost."""
    log = tmp_path / "run" / "evaluations.jsonl"
    killed: list[int] = []

    def kill_a_worker() -> None:
        """From another thread, as a fault would: SIGKILL the worker of an early record once a few are logged."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().splitlines()) >= 8:
                killed.append(_records(tmp_path / "run")[0]["pid"])
                os.kill(killed[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    config = evohybrid.load_config("smoke").override("fitness", steps=2)
    options = RayOptions(workers=16, worker_timeout_s=1)
    result = evohybrid.search(config, out=tmp_path / "run", budget=32, progress=False,
                              executor_factory=lambda cfg: RayExecutor(cfg, options))
    killer.join()
    records = _records(tmp_path / "run")
    assert killed, "no worker was killed"
    assert len(records) == 32 and len({r["hash"] for r in records}) == 32
    assert sorted(r["id"] for r in records) == list(range(32))
    assert all(r["status"] == "ok" for r in records)  # the killed worker's genome was retried, not lost
    # All 16 were up at once; work starts with the first worker up, so how it spreads depends on start times.
    assert result.executor_stats["workers"] == 16 and result.executor_stats["lost_workers"] == 1
    assert len({r["worker"] for r in records}) > 1
