"""DEAP's NSGA-II selection with its non-dominated sort done in numpy.

DEAP's `sortNondominated` compares every pair of fitnesses in Python, which cost `nsga2-steady` most of its time
(two sorts per evaluation). This sort returns exactly DEAP's fronts in exactly DEAP's order, ties included, so
selections, and with them the runs already recorded, stay the same.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter

import numpy as np
from deap.tools.emo import assignCrowdingDist

from .deap_types import Individual


def sort_nondominated(individuals: list[Individual], k: int) -> list[list[Individual]]:
    """`deap.tools.sortNondominated(individuals, k)`: fronts until at least min(k, len) individuals are sorted."""
    if k == 0:
        return []
    by_fitness: dict[object, list[Individual]] = {}  # keyed like DEAP: equal fitness values share a key
    for individual in individuals:
        by_fitness.setdefault(individual.fitness, []).append(individual)
    fits = list(by_fitness)
    weighted = np.array([fit.wvalues for fit in fits], dtype=float)
    better = (weighted[:, None, :] > weighted[None, :, :]).any(axis=2)
    worse = (weighted[:, None, :] < weighted[None, :, :]).any(axis=2)
    dominates = better & ~worse  # [i, j]: fits[i] dominates fits[j], as `Fitness.dominates` (NaN counts as equal)
    dominators, rows = dominates.sum(axis=0).tolist(), dominates.tolist()
    current = [index for index, count in enumerate(dominators) if count == 0]
    fronts = [list(chain.from_iterable(by_fitness[fits[index]] for index in current))]
    placed, wanted = len(fronts[0]), min(len(individuals), k)
    while placed < wanted:
        following: list[int] = []
        for index in current:  # DEAP releases the dominated in this order: front order, then ascending index
            for dominated in (other for other, flag in enumerate(rows[index]) if flag):
                dominators[dominated] -= 1
                if dominators[dominated] == 0:
                    following.append(dominated)
        fronts.append(list(chain.from_iterable(by_fitness[fits[index]] for index in following)))
        placed += len(fronts[-1])
        current = following
    return fronts


def select_nsga2(individuals: list[Individual], k: int) -> list[Individual]:
    """`deap.tools.selNSGA2(individuals, k)`: whole fronts, then the last one's most isolated by crowding distance.
    Sets every sorted individual's `fitness.crowding_dist`, which `tools.selTournamentDCD` reads."""
    fronts = sort_nondominated(individuals, k)
    for front in fronts:
        assignCrowdingDist(front)
    chosen = list(chain.from_iterable(fronts[:-1]))
    remaining = k - len(chosen)
    if remaining > 0:
        chosen.extend(sorted(fronts[-1], key=attrgetter("fitness.crowding_dist"), reverse=True)[:remaining])
    return chosen
