"""Starting or joining Ray. A Ray that evohybrid starts listens on 127.0.0.1 only; a cluster that requires a token gets
the one at hand."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from .. import stop_signals
from ..errors import EvohybridError, ExecutorLost

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0" makes Ray bind to (and dial) 127.0.0.1 only
AUTH_MODE_ENV = "RAY_AUTH_MODE"
HEARTBEAT_S = 2.0  # a wait with nothing finished for this long checks that the head and this node are alive
CONNECT_S = 10.0  # how long the head may take to accept a connection before it counts as gone
JOIN_ATTEMPTS = 5  # one a second: a head that does not answer in that time is reported, not waited for
ADDRESS_PATTERN = re.compile(r"^(auto|\[[0-9a-fA-F:]+\]:\d{1,5}|[A-Za-z0-9.\-]+:\d{1,5})$")


def check_address(address: str) -> None:
    """A one-line error for an --address that is neither `auto` nor host:port."""
    if not ADDRESS_PATTERN.match(address) or (address != "auto" and not 0 < int(address.rsplit(":", 1)[1]) < 65536):
        raise EvohybridError(f"--address '{address}' is not host:port or 'auto': give the head's address, "
                             "e.g. --address 10.0.0.5:6379")


def _is_loopback(address: str) -> bool:
    return address.rsplit(":", 1)[0].strip("[]") in ("127.0.0.1", "localhost", "::1")


def import_ray(address: str | None = None):
    """Import Ray, keeping it on loopback when it is local (no address, or a 127.0.0.1 cluster)."""
    if address is None or _is_loopback(address):
        # Ray reads this once, at import: without it, a local Ray listens on every interface.
        os.environ.setdefault(LOOPBACK_ENV, "0")
    import ray

    return ray


def _use_token() -> None:
    """Turn on Ray's token authentication in this process (Ray caches its config at import: refresh it, as Ray
    itself does)."""
    os.environ[AUTH_MODE_ENV] = "token"
    from ray._raylet import Config

    Config.initialize("")


def token_available() -> bool:
    """Whether Ray's authentication token is at hand: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or (Path(path) if path else Path.home() / ".ray" / "auth_token").is_file()


def connect_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start a local Ray (address None) or join a cluster; return whether this call started or joined one."""
    ray = import_ray(address)
    if ray.is_initialized():
        return False
    if address is None:
        # "local": always a new Ray of our own, never one that `ray start` left running (or left behind) here.
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False)
        stop_signals.reinstall()
        if ray.util.get_node_ip_address() not in ("127.0.0.1", "::1"):
            ray.shutdown()
            raise EvohybridError(f"Ray was imported before evohybrid could keep it on loopback: set "
                                 f"{LOOPBACK_ENV}=0 before starting, or pass --address of a cluster you run")
        return True
    check_address(address)
    if address != "auto":
        _check_listening(address)
    failure = _join(ray, address)
    if failure is not None and AUTH_MODE_ENV not in os.environ and token_available() and _needs_token(*failure):
        # A cluster that requires a token (Ray 2.60+ by default): join again with the one at hand. Never the other
        # way round: a driver with a token joined to a cluster without makes workers that die at once.
        _use_token()
        failure = _join(ray, address)
    if failure is None:
        stop_signals.reinstall()
        return True
    raise EvohybridError(f"cannot join the Ray cluster at '{address}': {_join_advice(*failure)}") from None


def _join(ray, address: str) -> tuple[str, Exception] | None:
    """Join the cluster; None, or what went wrong: (Ray's log lines, the error)."""
    with _captured_stderr() as log, _bounded_join():
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            return None
        except Exception as error:  # Ray raises several kinds here; all mean "could not join"
            failure = error
    return "".join(log), failure


def _needs_token(log: str, error: Exception) -> bool:
    text = f"{log}\n{error}".lower()
    return "unauthenticated" in text or "invalidauthtoken" in text or "authentication" in text


def _check_listening(address: str) -> None:
    """A closed port or an unreachable host fails here in seconds, where Ray would retry for minutes."""
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=JOIN_ATTEMPTS).close()
    except OSError as error:
        raise EvohybridError(f"cannot join the Ray cluster at '{address}': nothing answers there "
                             f"({error.strerror or type(error).__name__}): start the head with 'ray start --head "
                             f"--port={port}' or check --address") from None


def _join_advice(log: str, error: Exception) -> str:
    """What went wrong in joining, read off Ray's log lines, and what to do."""
    if _needs_token(log, error):
        if not token_available():
            return ("it requires token authentication and no token is here: copy the head's ~/.ray/auth_token "
                    "to this machine, or set RAY_AUTH_TOKEN")
        return ("it refused this machine's token: copy the head's ~/.ray/auth_token here (or set RAY_AUTH_TOKEN "
                "to it)")
    return (f"its head did not answer as a Ray head within {JOIN_ATTEMPTS} s: check --address (the head's "
            "GCS port, 6379 by default) and that its Ray version matches this one")


@contextlib.contextmanager
def _bounded_join() -> Iterator[None]:
    # Ray retries the head once a second, 20 times by default; this makes an unreachable head fail in seconds.
    name = "RAY_gcs_server_port_wait_time_s"
    saved = os.environ.get(name)
    os.environ.setdefault(name, str(JOIN_ATTEMPTS))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Ray's native client logs each failed attempt to file descriptor 2: keep them out of the user's terminal,
    and readable afterwards (in the list it yields) to say what went wrong."""
    text: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield text
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text.append(capture.read())


def check_ray_alive(ray, started: bool) -> None:
    """Raise ExecutorLost when the Ray that `started` here lost a process, the head stopped answering, or this
    machine's Ray node died: a wait on such a Ray would never end."""
    if started:  # the Ray we started: its processes are ours to watch, and their death is immediate news
        dead = sorted({kind for kind, _ in ray._private.worker._global_node.dead_processes()})
        if dead:
            raise ExecutorLost(f"the local Ray stopped ({', '.join(dead)} died)")
    context = ray.get_runtime_context()
    host, port = context.gcs_address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_S).close()
    except OSError:
        raise ExecutorLost(f"the Ray head at {context.gcs_address} stopped answering") from None
    if context.get_node_id() not in {node["NodeID"] for node in ray.nodes() if node["Alive"]}:
        raise ExecutorLost("this machine's Ray node died (its raylet stopped)")
