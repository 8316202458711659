"""Ask/tell search algorithms: `ask()` proposes one unseen genome, `tell()` reports its record.

The driver (serial, Ray, or a replay on resume) decides when to call which; the algorithm never
touches torch or the executor, and its whole state is JSON.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from ...config import SearchConfig
from ...errors import EvohybridError
from ...spaces.genome import Genome
from ...spaces.space import SearchSpace
from .deap_types import Individual, global_random_seeded
from .nsga2_selection import select_nsga2
from .proposal import Proposal, objectives
from .rungs import Rungs
from .selection import Vector, selection_objectives, selection_vector

__all__ = ["Algorithm", "Proposal", "SpaceExhausted", "Vector", "objectives"]


class SpaceExhausted(EvohybridError):
    """Every genome of the space has been proposed already."""


def rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: list[Any]) -> None:
    rng.setstate((state[0], tuple(state[1]), state[2]))


class Algorithm:
    """Common bookkeeping: unique proposals, birth indices, pending genomes, JSON state."""

    name = "base"
    # Whether proposing before earlier results are in keeps the algorithm's semantics (steady-state).
    asynchronous = True
    # Whether zero-cost screening picks each proposal among screen_factor candidates (False: the algorithm screens
    # whole batches itself, as NSGA-II does with each generation's offspring).
    screens_each_proposal = True

    def __init__(self, space: SearchSpace, cfg: SearchConfig, seed: int) -> None:
        self.space = space
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.seed = seed  # the noise ablation's values are fixed by it
        self.seen: set[str] = set()
        self.pending: dict[int, Proposal] = {}
        self.next_id = 0
        self.rungs = Rungs(len(cfg.rungs), cfg.rung_fraction, cfg.population)
        # Set by the search when it screens (search.screen_signal): genomes -> [(score, parameters)] from the workers.
        self.screener: Callable[[list[Genome]], list[tuple[float | None, int]]] | None = None

    # -- what each algorithm defines
    def _propose(self) -> tuple[Genome, dict[str, Any]]:
        raise NotImplementedError

    def _observe(self, proposal: Proposal, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def _ready(self) -> bool:
        """Whether a new genome can be proposed now; a generational algorithm waits for its generation to finish."""
        return True

    # -- what the algorithms select on (selection.py)
    def selection_vector(self, proposal: Proposal, record: dict[str, Any]) -> Vector:
        return selection_vector(proposal.genome.hash, record, self.cfg, self.seed)

    def selection_objectives(self, scored: list[tuple[Genome, Vector]]) -> list[tuple[float, float]]:
        """(value, parameters) of each genome, judged among `scored` only."""
        return selection_objectives([vector for _, vector in scored], self.cfg)

    # -- the interface the driver uses
    def ready(self) -> bool:
        """Whether `ask` can propose now: an upgrade to a costlier rung, or a new genome."""
        return bool(self.rungs.queue) or self._ready()

    def owes_upgrades(self) -> bool:
        """Whether upgrades are queued: the search is not over until they are evaluated, whatever the budget."""
        return bool(self.rungs.queue)

    def ask(self) -> Proposal:
        if self.rungs.queue:  # a genome already evaluated, owed a costlier rung: same genome, a new evaluation
            upgrade = self.rungs.queue.pop(0)
            return self._register(Genome.from_dict(upgrade["genome"]),
                                  {key: upgrade[key] for key in ("rung", "base_id", "batch")})
        genome, meta = self._propose()
        if self.screener is not None and self.screens_each_proposal:
            candidates = [(genome, meta)] + [self._propose() for _ in range(self.cfg.screen_factor - 1)]
            (index, score), = self.screened([candidate for candidate, _ in candidates], 1)
            genome, meta = candidates[index][0], {**candidates[index][1], "screen": score}
        if self.rungs.enabled:
            meta = {**meta, **self.rungs.tag()}
        for _ in range(50):
            if genome.hash not in self.seen:
                break
            genome = self.space.mutate(genome, self.rng)  # a nearby unseen genome keeps the search local
            meta.pop("screen", None)  # the score was the seen genome's
        else:  # the loop has dropped the score already
            genome = self._unseen_sample()
        self.seen.add(genome.hash)
        return self._register(genome, meta)

    def screened(self, genomes: list[Genome], count: int) -> list[tuple[int, float | None]]:
        """The positions of the best `count` genomes by NSGA-II's sort on (screening score up, parameters down), in
        order, each with its score. Repeats and genomes already proposed are left out while enough others remain:
        they would only be mutated into unscreened ones."""
        fresh, hashes = [], set()  # the batch's own hashes: a copy of `seen` would cost as much as the run is long
        for index, genome in enumerate(genomes):
            if genome.hash not in self.seen and genome.hash not in hashes:
                hashes.add(genome.hash)
                fresh.append(index)
        positions = fresh if len(fresh) >= count else list(range(len(genomes)))
        results = self.screener([genomes[index] for index in positions])
        finite = [score for score, _ in results if score is not None]
        floor = min(finite, default=0.0) - 1.0  # a failed score ranks below every other (DEAP needs numbers)
        individuals = [Individual(genomes[index], (floor if score is None else score, params))
                       for index, (score, params) in zip(positions, results)]
        with global_random_seeded(self.rng.getrandbits(64)):
            chosen = {id(ind) for ind in select_nsga2(individuals, count)}
        return [(index, score) for index, individual, (score, _) in zip(positions, individuals, results)
                if id(individual) in chosen]

    def _register(self, genome: Genome, meta: dict[str, Any]) -> Proposal:
        """A new proposal: the next birth index, pending until it is told."""
        proposal = Proposal(self.next_id, genome, meta)
        self.next_id += 1
        self.pending[proposal.id] = proposal
        return proposal

    def tell(self, proposal_id: int, record: dict[str, Any]) -> None:
        proposal = self.pending.pop(proposal_id)
        if not self.rungs.enabled:
            self._observe(proposal, record)
            return
        # With rungs, the algorithm hears of a batch once every rung it is owed has been measured.
        for finished, selection in self.rungs.finish(proposal, record, self.rng.getrandbits(64)):
            self._observe(finished, selection)

    def adopt(self, proposal_id: int, genome: Genome) -> None:
        """Make a pending proposal be `genome`: a replayed proposal takes the genome that the log says ran."""
        proposal = self.pending[proposal_id]
        self.seen.add(genome.hash)
        self.pending[proposal_id] = Proposal(proposal_id, genome, proposal.meta)

    def state_dict(self) -> dict[str, Any]:
        # `seen` is left out: the search rebuilds it from the log, so the state does not grow with the run.
        return {"algorithm": self.name, "rng": rng_state(self.rng), "next_id": self.next_id,
                "pending": [_proposal_to_json(p) for p in self.pending.values()], "rungs": self.rungs.state_dict(),
                **self._extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.next_id = state["next_id"]
        self.pending = {p.id: p for p in map(_proposal_from_json, state["pending"])}
        self.seen = {proposal.genome.hash for proposal in self.pending.values()}  # the caller adds the logged ones
        if "rungs" in state:  # a run saved before rungs existed had none
            self.rungs.load_state_dict(state["rungs"])
        self._load_extra_state(state)

    def _unseen_sample(self) -> Genome:
        for _ in range(10_000):
            genome = self.space.sample(self.rng)
            if genome.hash not in self.seen:
                return genome
        raise SpaceExhausted(f"found no unproposed genome in space '{self.space.name}' after {len(self.seen)} "
                             "evaluations: the space is (nearly) exhausted, use a smaller --budget or a larger space")


def _proposal_to_json(proposal: Proposal) -> dict[str, Any]:
    return {"id": proposal.id, "genome": proposal.genome.to_dict(), "meta": proposal.meta}


def _proposal_from_json(data: dict[str, Any]) -> Proposal:
    return Proposal(data["id"], Genome.from_dict(data["genome"]), data["meta"])


def scored_to_json(items: list[tuple[Genome, Vector]]) -> list[dict[str, Any]]:
    return [{"genome": genome.to_dict(), "objectives": list(values)} for genome, values in items]


def scored_from_json(items: list[dict[str, Any]]) -> list[tuple[Genome, Vector]]:
    return [(Genome.from_dict(item["genome"]), tuple(item["objectives"])) for item in items]
