"""Studies that judge the product: fitness signals against a ground truth, algorithms, and the time-series baselines."""
