"""The names of the fitness signals, without torch: the config checks them, the evaluator and the studies compute
them (signals.py), the algorithms rank on them."""

ZERO_COST_SIGNALS = ("naswot", "synflow", "zico", "depth")  # measured on the random weights, no training step
FITNESS_SIGNAL = "bn"  # the trained fitness itself: a record's val_acc (BatchNorm-only by default)
SIGNALS = (FITNESS_SIGNAL, *ZERO_COST_SIGNALS)
