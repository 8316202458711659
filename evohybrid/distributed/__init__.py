"""Where evaluations run: in this process or on a pool of Ray workers, on one machine or a cluster."""
