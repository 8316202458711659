"""Training every weight: the trainer, promotion with Ray Tune, the promoted-run layout, lottery-ticket pruning."""
