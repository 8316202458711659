"""Starting or joining Ray. A Ray that evohybrid starts listens on 127.0.0.1 only."""

from __future__ import annotations

import os

from .errors import EvohybridError

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0" makes Ray bind to (and dial) 127.0.0.1 only


def _is_loopback(address: str) -> bool:
    return address.rsplit(":", 1)[0].strip("[]") in ("127.0.0.1", "localhost", "::1")


def import_ray(address: str | None = None):
    """Import Ray, keeping it on loopback when it is local (no address, or a 127.0.0.1 cluster)."""
    if address is None or _is_loopback(address):
        # Ray reads this once, at import: without it, a local Ray listens on every interface.
        os.environ.setdefault(LOOPBACK_ENV, "0")
    import ray

    return ray


def connect_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start a local Ray (address None) or join a cluster; return whether this call started or joined one."""
    ray = import_ray(address)
    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
        if ray.util.get_node_ip_address() not in ("127.0.0.1", "::1"):
            ray.shutdown()
            raise EvohybridError(f"Ray was imported before evohybrid could keep it on loopback: set "
                                 f"{LOOPBACK_ENV}=0 before starting, or pass --address of a cluster you run")
        return True
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception as error:  # Ray raises several kinds here; all mean "could not join"
        text = str(error).strip()
        first_line = text.splitlines()[0][:200] if text else type(error).__name__
        hint = ("set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
                if "auth" in text.lower() else "start it with 'ray start --head' or check --address")
        raise EvohybridError(f"cannot join the Ray cluster at '{address}' ({first_line}): {hint}") from None
    return True
