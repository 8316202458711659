"""The fitness of an architecture: BatchNorm-only training and its alternative signals (zero-cost proxies, readouts)."""
