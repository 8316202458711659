"""The evolutionary search: ask/tell algorithms (DEAP), the loop that feeds them, the run directory, progress."""
