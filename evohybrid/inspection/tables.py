"""A run's fronts as rows, and the rows as an aligned text table, JSON or CSV (`evohybrid pareto`, the report)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..evolution.pareto import knee_point, no_better_than_chance
from ..spaces.genome import Genome

TABLE_FORMATS = ("table", "json", "csv")
ROW_FIELDS = ("rank", "id", "val_acc", "params", "flops", "knee", "chance", "architecture")


def front_rows(fronts: list[list[dict[str, Any]]], chance: float) -> list[dict[str, Any]]:
    """One row per record of `fronts` (rank 1 first); `knee` marks the knee of the first front, `chance` every record
    at or below `chance`."""
    knee = knee_point(fronts[0], chance) if fronts else None
    return [{"rank": rank, "id": record["id"], "val_acc": record["val_acc"], "params": record["params"],
             "flops": record.get("flops"), "knee": record is knee, "chance": no_better_than_chance(record, chance),
             "architecture": Genome.from_dict(record["genome"]).describe(), "genome": record["genome"]}
            for rank, front in enumerate(fronts, start=1) for record in front]


def thousands(value: int | None) -> str:
    """A count with thousands separators, or `-` when it is unknown."""
    return f"{value:,}" if value is not None else "-"


def format_rows(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """Rows of `front_rows` as an aligned text table (knee marked with *, at or below chance with <=), a JSON list,
    or CSV."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    lines = [f"{'rank':>4}  {'id':>5}  {'val_acc':>8}  {'params':>10}  {'flops':>12}  knee  chance  architecture"]
    for row in rows:
        lines.append(f"{row['rank']:>4}  {row['id']:>5}  {row['val_acc']:>8.4f}  {row['params']:>10,}  "
                     f"{thousands(row['flops']):>12}  "
                     f"{'*' if row['knee'] else '':>4}  {'<=' if row['chance'] else '':>6}  {row['architecture']}")
    return "\n".join(lines)


def format_front(front: list[dict[str, Any]], chance: float) -> str:
    """A plain-text table of one front: accuracy, parameters, FLOPs, id, the knee, the members at or below `chance`
    and a short architecture string."""
    return format_rows(front_rows([front], chance))
