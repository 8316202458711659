"""A multi-node Ray cluster on 127.0.0.1 for the tests, built with Ray's own test utility in a process of its own
(so its Ray settings never mix with the test process's). Driven over stdin, one command per line:

    add            -> "node <node id>"   a worker node of one CPU
    kill <node id> -> "killed"           SIGKILL its raylet and every process under it, as a crashed machine
                                         goes; answered once the cluster counts the node dead
    (end of input)                       the cluster is shut down

It prints "address <host:port>" once the head is up. The head holds no worker, as a real head often does not.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every node binds to (and dials) 127.0.0.1 only

from ray._private import ray_constants  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402  (after the setting, which Ray reads at import)

# The GCS declares a silent node dead after 3 missed checks of 0.5 s, where Ray's default waits for tens of seconds.
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_failure_threshold": 3}


def descendants(pid: int) -> list[int]:
    """The processes under pid, read from /proc (a raylet starts its node's workers as its children)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # the field after the state
        except (OSError, IndexError, ValueError):  # gone while we read
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def crash(cluster: Cluster, node) -> None:
    """Kill the node's workers with its raylet: Ray's remove_node kills only the processes it started itself, and a
    worker left behind would go on serving its calls."""
    raylets = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET]
    workers = [pid for raylet in raylets for pid in descendants(raylet.process.pid)]
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    cluster.remove_node(node, allow_graceful=False)
    cluster.wait_for_nodes()  # until the GCS's health checks have found it dead, as a search will


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            "_system_config": FAST_HEALTH_CHECKS})
    print("address", cluster.address, flush=True)
    try:
        for line in sys.stdin:
            command, *rest = line.split()
            if command == "add":
                print("node", cluster.add_node(num_cpus=1).node_id, flush=True)
            elif command == "kill":
                node = next(node for node in cluster.worker_nodes if node.node_id == rest[0])
                crash(cluster, node)
                print("killed", flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
