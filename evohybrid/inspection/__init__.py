"""Reading a run: Pareto fronts and hypervolume, the HTML report and its figures, standalone model files."""
