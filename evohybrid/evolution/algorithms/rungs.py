"""Multi-fidelity rungs (as in Hyperband and DEHB): every proposal is judged by the cheap fitness (rung 0); the best
fraction of each batch of finished proposals is judged again by a costlier fitness (rung 1), the best of those by
rung 2, and so on. The algorithm then hears of the whole batch at once, with one selection value per genome.

Selection value: rungs measure accuracy on different scales (a longer training reaches a higher accuracy), so raw
values do not compare across rungs. Instead the genomes promoted to rung r exchange the values they already held,
reordered by their rung-r accuracy: the costlier signal decides the order exactly where it was measured, the values
stay on rung 0's scale (comparable across batches and with genomes never promoted), and no promoted genome drops
below one of its batch that was not promoted.
"""

from __future__ import annotations

from typing import Any

from ...spaces.genome import Genome
from .deap_types import Individual, global_random_seeded
from .nsga2_selection import select_nsga2
from .proposal import Proposal, objectives


def selection_values(members: dict[int, dict[str, Any]]) -> dict[int, float]:
    """One batch: {id: {"values": [rung 0 accuracy, rung 1 accuracy, ...], ...}} -> {id: selection value}."""
    current = {key: member["values"][0] for key, member in members.items()}
    rung = 1
    while True:
        promoted = [key for key, member in members.items() if len(member["values"]) > rung]
        if not promoted:
            return current
        held = sorted(current[key] for key in promoted)
        by_rung = sorted(promoted, key=lambda key: (members[key]["values"][rung], -key))
        current.update(zip(by_rung, held))
        rung += 1


def promote(members: dict[int, dict[str, Any]], fraction: float, rung: int, seed: int) -> list[int]:
    """The ids of the batch's members measured at `rung` that go on to rung + 1: the best `fraction` of them by
    non-dominated sorting and crowding (NSGA-II's selection) of (selection value, parameters)."""
    candidates = [key for key, member in members.items() if len(member["values"]) > rung]
    count = max(1, round(fraction * len(candidates)))
    values = selection_values(members)
    individuals = [Individual(Genome.from_dict(members[key]["genome"]), (values[key], members[key]["params"]))
                   for key in candidates]
    with global_random_seeded(seed):
        chosen = {id(ind) for ind in select_nsga2(individuals, count)}
    return sorted(key for key, ind in zip(candidates, individuals) if id(ind) in chosen)


class Rungs:
    """The rung bookkeeping of one algorithm: batches of `batch_size` rung-0 proposals, the upgrades they are
    owed, and, once a batch has every value it will get, its proposals with their selection values. JSON state."""

    def __init__(self, count: int, fraction: float, batch_size: int) -> None:
        self.count, self.fraction, self.batch_size = count, fraction, batch_size
        self.proposed = 0  # rung-0 proposals so far; the batch of the next is proposed // batch_size
        self.batches: dict[int, dict[str, Any]] = {}  # batch -> {"members": {id: member}, "waiting": upgrades due}
        self.queue: list[dict[str, Any]] = []  # upgrades to propose: {"genome", "rung", "base_id", "batch"}

    @property
    def enabled(self) -> bool:
        return self.count > 0

    def tag(self) -> dict[str, Any]:
        """The notes of a new rung-0 proposal."""
        batch = self.proposed // self.batch_size
        self.proposed += 1
        return {"rung": 0, "batch": batch}

    def finish(self, proposal: Proposal, record: dict[str, Any], seed: int) -> list[tuple[Proposal, dict[str, Any]]]:
        """Take one finished evaluation; return the batch's proposals with records carrying selection values once
        the batch is complete (an empty list until then)."""
        meta = proposal.meta
        batch = self.batches.setdefault(meta["batch"], {"members": {}, "waiting": 0, "rung": 0})
        accuracy, params = objectives(record)
        if meta["rung"] == 0:
            batch["members"][proposal.id] = {"genome": proposal.genome.to_dict(), "params": params,
                                             "meta": meta, "values": [accuracy]}
            if "signals" in record:
                batch["members"][proposal.id]["signals"] = record["signals"]
            complete = len(batch["members"]) == self.batch_size
        else:
            batch["members"][meta["base_id"]]["values"].append(accuracy)
            batch["waiting"] -= 1
            complete = batch["waiting"] == 0
        if not complete:
            return []
        if batch["rung"] < self.count:
            for key in promote(batch["members"], self.fraction, batch["rung"], seed):
                self.queue.append({"genome": batch["members"][key]["genome"], "rung": batch["rung"] + 1,
                                   "base_id": key, "batch": meta["batch"]})
                batch["waiting"] += 1
            batch["rung"] += 1
            return []
        del self.batches[meta["batch"]]
        values = selection_values(batch["members"])
        return [(Proposal(key, Genome.from_dict(member["genome"]), member["meta"]), _heard(member, values[key]))
                for key, member in sorted(batch["members"].items())]

    def state_dict(self) -> dict[str, Any]:
        batches = {str(b): {**batch, "members": {str(k): m for k, m in batch["members"].items()}}
                   for b, batch in self.batches.items()}
        return {"proposed": self.proposed, "batches": batches, "queue": self.queue}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.proposed, self.queue = state["proposed"], state["queue"]
        self.batches = {int(b): {**batch, "members": {int(k): m for k, m in batch["members"].items()}}
                        for b, batch in state["batches"].items()}


def _heard(member: dict[str, Any], value: float) -> dict[str, Any]:
    """What the algorithm hears of a batch member: its selection value, and the zero-cost signals of its rung-0 run
    (an ensemble ranks them beside the selection value)."""
    record = {"status": "ok", "val_acc": value, "params": member["params"]}
    if "signals" in member:
        record["signals"] = member["signals"]
    return record


def selection_view(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per genome, as the algorithm sees it: a rung-0 record whose `val_acc` is its selection value
    (from the upgrades measured so far) and whose `rung_val_accs` lists its accuracy at each rung. Records of a
    search without rungs, or before its first upgrade, come back unchanged; a failed record too."""
    if not any(record.get("rung", 0) > 0 for record in records):
        return records
    batches: dict[int, dict[int, dict[str, Any]]] = {}
    # By id, an upgrade comes after the rung below it (it is proposed once that rung is measured).
    for record in sorted(records, key=lambda record: record["id"]):
        genome_id = record["base_id"] if record["rung"] > 0 else record["id"]
        member = batches.setdefault(record["batch"], {}).setdefault(genome_id, {"values": []})
        member["values"].append(objectives(record)[0])
    values = {key: value for members in batches.values() for key, value in selection_values(members).items()}
    view = []
    for record in records:
        if record["rung"] == 0:
            member = batches[record["batch"]][record["id"]]
            view.append({**record, "val_acc": values[record["id"]], "rung_val_accs": member["values"]}
                        if record["status"] == "ok" else record)
    return view
