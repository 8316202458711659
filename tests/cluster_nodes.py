"""A multi-node Ray cluster on 127.0.0.1 for the tests, built with Ray's own test utility in a process of its own
(so its Ray settings never mix with the test process's). Driven over stdin, one command per line:

    add            -> "node <node id>"   a worker node of one CPU
    kill <node id> -> "killed"           SIGKILL its raylet and processes, as a crashed machine goes
    (end of input)                       the cluster is shut down

It prints "address <host:port>" once the head is up. The head holds no worker, as a real head often does not.
"""

from __future__ import annotations

import os
import sys

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every node binds to (and dials) 127.0.0.1 only

from ray.cluster_utils import Cluster  # noqa: E402  (after the setting, which Ray reads at import)

# The GCS declares a silent node dead after 3 missed checks of 0.5 s, where Ray's default waits for tens of seconds.
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_failure_threshold": 3}


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
                cluster.remove_node(node, allow_graceful=False)
                print("killed", flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
