"""Pareto fronts checked against a brute-force peeling, the knee on known shapes and above chance, hypervolume on a
worked example, the three output formats, and `evohybrid pareto` on a run directory written by the real store."""

from __future__ import annotations

import csv
import io
import json
import math
import random

import pytest

import evohybrid
from evohybrid.cli import main
from evohybrid.data import DATASETS
from evohybrid.dataset_names import DATASET_NAMES, NUM_CLASSES
from evohybrid.errors import GenomeError
from evohybrid.evolution.store import RunStore
from evohybrid.evolution.pareto import (ParetoArchive, chance_level, hypervolume, hypervolume_curve, knee_point,
                                       pareto_front, pareto_fronts, reference_point)
from evohybrid.inspection.tables import format_front, format_rows, front_rows, thousands

GENOME = evohybrid.load_space("tiny").sample(random.Random(0)).to_dict()
ARCHITECTURE = evohybrid.Genome.from_dict(GENOME).describe()
# Accuracy jumps from 100 to 1,000 parameters, then barely moves for 100x more: the knee is at 1,000.
L_SHAPED = [(0, 0.50, 100), (1, 0.89, 1_000), (2, 0.90, 10_000), (3, 0.91, 100_000)]
CHANCE = 0.1  # 10 classes, as Fashion-MNIST
# The shape: a below-chance network anchors the chord and makes one barely above chance (id 1) the knee.
BELOW_CHANCE_ANCHOR = [(0, 0.0975, 100), (1, 0.161, 200), (2, 0.2, 10_000), (3, 0.22, 1_000_000)]


def record(eval_id: int, val_acc: float | None, params: int, status: str = "ok") -> dict:
    return {"id": eval_id, "genome": GENOME, "status": status, "val_acc": val_acc, "params": params,
            "flops": params * 10}


def random_records(rng: random.Random, count: int) -> list[dict]:
    """Objectives drawn from small grids, so that ties and exact duplicates are common; some evaluations fail."""
    records = []
    for eval_id in range(count):
        status = rng.choice(["ok"] * 8 + ["failed", "diverged"])
        records.append(record(eval_id, rng.choice([0.1, 0.3, 0.5, 0.7, 0.9]) if status == "ok" else None,
                              rng.choice([100, 200, 400, 800, 1600]), status))
    return records


def brute_force_fronts(records: list[dict]) -> list[set[int]]:
    """Peel the ok records: each front is what no remaining record dominates."""
    def dominates(a: dict, b: dict) -> bool:
        return (a["val_acc"] >= b["val_acc"] and a["params"] <= b["params"]
                and (a["val_acc"] > b["val_acc"] or a["params"] < b["params"]))

    remaining = [r for r in records if r["status"] == "ok"]
    fronts = []
    while remaining:
        front = [r for r in remaining if not any(dominates(other, r) for other in remaining)]
        fronts.append({r["id"] for r in front})
        remaining = [r for r in remaining if r["id"] not in fronts[-1]]
    return fronts


@pytest.mark.parametrize("seed", range(40))
def test_fronts_equal_brute_force_on_random_points(seed):
    rng = random.Random(seed)
    records = random_records(rng, rng.choice([1, 2, 3, 8, 25, 60]))
    expected = brute_force_fronts(records)
    fronts = pareto_fronts(records)
    assert [{r["id"] for r in front} for front in fronts] == expected
    assert {r["id"] for r in pareto_front(records)} == (expected[0] if expected else set())
    for front in fronts:
        assert [r["params"] for r in front] == sorted(r["params"] for r in front)  # smallest first


@pytest.mark.parametrize("count", [1, 2, 3, 100])
def test_first_k_fronts_carry_their_ranks(count):
    records = random_records(random.Random(7), 60)
    expected = brute_force_fronts(records)
    rows = front_rows(pareto_fronts(records, count), CHANCE)
    ranks = {row["id"]: row["rank"] for row in rows}
    assert ranks == {eval_id: rank for rank, front in enumerate(expected[:count], start=1) for eval_id in front}


def test_a_damaged_genome_in_the_log_is_an_error_not_a_ranked_point():
    damaged = {**record(1, 0.9, 1_000), "genome": {"stem_width": 8}}
    with pytest.raises(GenomeError, match="stem_width"):
        pareto_fronts([record(0, 0.5, 100), damaged])


def test_duplicates_share_a_front_and_single_or_no_point_runs():
    twins = [record(0, 0.5, 100), record(1, 0.5, 100), record(2, 0.4, 100)]
    assert [{r["id"] for r in front} for front in pareto_fronts(twins)] == [{0, 1}, {2}]
    assert [r["id"] for r in pareto_front([record(5, 0.2, 300)])] == [5]
    assert pareto_fronts([record(0, None, 10, "failed")]) == [] and pareto_front([]) == []


def test_knee_on_an_l_shaped_front():
    front = [record(*point) for point in L_SHAPED]
    assert knee_point(front, CHANCE)["id"] == 1
    assert [row["id"] for row in front_rows([front], CHANCE) if row["knee"]] == [1]


def test_no_knee_without_a_bend_toward_the_ideal():
    straight = [record(0, 0.5, 100), record(1, 0.6, 1_000), record(2, 0.7, 10_000)]
    concave = [record(0, 0.5, 100), record(1, 0.52, 1_000), record(2, 0.9, 10_000)]
    assert knee_point(straight, CHANCE) is None and knee_point(concave, CHANCE) is None
    assert knee_point(straight[:2], CHANCE) is None and knee_point([], CHANCE) is None


def test_knee_of_a_three_point_front():
    # Scaled to 0..1 the points are (0, 0), (0.5, 0.975), (1, 1): the middle one lies 0.475 beyond the chord.
    front = [record(0, 0.5, 100), record(1, 0.89, 1_000), record(2, 0.9, 10_000)]
    assert knee_point(front, CHANCE)["id"] == 1


def test_knee_does_not_depend_on_the_order_of_the_records():
    front = [record(*point) for point in L_SHAPED]
    assert knee_point(front[::-1], CHANCE)["id"] == 1
    assert knee_point([front[2], front[0], front[3], front[1]], CHANCE)["id"] == 1


def test_the_knee_leaves_out_the_members_at_or_below_chance():
    front = [record(*point) for point in BELOW_CHANCE_ANCHOR]
    assert knee_point(front, 0.0)["id"] == 1  # were chance ignored, the below-chance network would anchor the chord
    assert knee_point(front, CHANCE)["id"] == 2
    at_chance = [record(0, 500 / 5000, 100)] + front[1:]  # exactly 1 / 10: no better than chance either
    assert knee_point(at_chance, CHANCE)["id"] == 2
    rows = front_rows([at_chance], CHANCE)
    assert [(row["id"], row["chance"], row["knee"]) for row in rows] == [
        (0, True, False), (1, False, False), (2, False, True), (3, False, False)]


def test_no_knee_with_fewer_than_three_members_above_chance():
    front = [record(*point) for point in BELOW_CHANCE_ANCHOR]
    assert knee_point(front, 0.161) is None  # id 1 sits exactly at this chance level: two members above it remain
    assert not any(row["knee"] for row in front_rows([front], 0.161))


def test_every_registered_data_set_has_its_chance_level():
    assert tuple(NUM_CLASSES) == DATASET_NAMES == tuple(DATASETS)
    assert chance_level("fashion-mnist") == CHANCE and chance_level("cifar100") == 0.01
    assert all(chance_level(name) == 1 / NUM_CLASSES[name] for name in DATASETS)


def distinct_sorted(rng: random.Random, count: int, draw) -> list:
    """`count` different values of `draw(rng)`, smallest first."""
    values = set()
    while len(values) < count:
        values.add(draw(rng))
    return sorted(values)


def random_genuine_front(rng: random.Random) -> list[dict]:
    """3 to 6 members from ~1e2 to ~1e7 parameters, accuracy rising with size over a span of 0.001 to 0.1, in random
    order; sometimes a smaller member below chance as well."""
    count = rng.randint(3, 6)
    low = rng.uniform(2, 5)
    high = rng.uniform(low + 0.2, 7)
    sizes = distinct_sorted(rng, count, lambda r: round(10 ** r.uniform(low, high)))
    base, span = rng.uniform(0.15, 0.89), 10 ** rng.uniform(-3, -1)
    accuracies = distinct_sorted(rng, count, lambda r: round(base + r.uniform(0, span), 6))
    front = [record(eval_id, acc, params) for eval_id, (acc, params) in enumerate(zip(accuracies, sizes))]
    if rng.random() < 1 / 3:
        front.append(record(count, rng.uniform(0.02, CHANCE), rng.randint(10, sizes[0] - 1)))
    rng.shuffle(front)
    return front


def triangle_areas(front: list[dict], chance: float) -> dict[int, float]:
    """Each member above chance: the signed area (shoelace formula, positive counterclockwise) of the triangle it
    spans with the smallest and the largest such member, in log10(params) and accuracy each min-max scaled to 0..1."""
    above = [r for r in front if r["val_acc"] > chance]
    xs, ys = [math.log10(r["params"]) for r in above], [r["val_acc"] for r in above]
    points = [((x - min(xs)) / (max(xs) - min(xs)), (y - min(ys)) / (max(ys) - min(ys))) for x, y in zip(xs, ys)]
    (x1, y1), (x2, y2) = points[xs.index(min(xs))], points[xs.index(max(xs))]
    return {r["id"]: 0.5 * (x1 * (y2 - y3) + x2 * (y3 - y1) + x3 * (y1 - y2)) for r, (x3, y3) in zip(above, points)}


def test_knee_is_the_member_spanning_the_largest_triangle_with_the_extremes():
    outcomes = {"knee": 0, "none": 0}
    for seed in range(300):
        front = random_genuine_front(random.Random(seed))
        assert len(pareto_front(front)) == len(front)  # a genuine front: no member dominates another
        areas = triangle_areas(front, CHANCE)
        knee = knee_point(front, CHANCE)
        if max(areas.values()) <= 0:  # straight or concave: nothing bulges toward the ideal corner
            assert knee is None, seed
            outcomes["none"] += 1
        else:
            assert areas[knee["id"]] == pytest.approx(max(areas.values()), abs=1e-12), seed
            outcomes["knee"] += 1
    assert min(outcomes.values()) >= 30  # both shapes were tried


@pytest.mark.filterwarnings("error")
def test_a_front_of_identical_records_has_no_knee_and_divides_nothing_by_zero():
    # Equal objectives share a front; with no spread on either axis there is no bend (and no 0/0 to warn about).
    assert knee_point([record(eval_id, 0.5, 100) for eval_id in range(3)], CHANCE) is None


def test_hypervolume_of_a_worked_example():
    # In (-accuracy, log10 params) with reference (0, 3): boxes 0.5 x 2 and 0.8 x 1 overlap in 0.5 x 1.
    records = [record(0, 0.5, 10), record(1, None, 50, "failed"), record(2, 0.8, 100), record(3, 0.3, 100)]
    assert hypervolume(records, (0.0, 3.0)) == pytest.approx(1.3)
    assert hypervolume_curve(records, (0.0, 3.0)) == pytest.approx([1.0, 1.0, 1.3, 1.3])
    assert hypervolume([], (0.0, 3.0)) == 0.0


def test_hypervolume_curve_recomputes_earlier_points_after_an_upgrade():
    # Genomes 0 and 1 of batch 0 are judged again (rung 1), which reverses their order: once both upgrades are in,
    # 0 holds the higher rung-0 value (0.8) and 1 the lower (0.6). Before that, the rung-0 values stand.
    rung_records = [{**record(0, 0.6, 10), "rung": 0, "batch": 0}, {**record(1, 0.8, 100), "rung": 0, "batch": 0},
                    {**record(2, 0.9, 10), "rung": 1, "batch": 0, "base_id": 0},
                    {**record(3, 0.7, 100), "rung": 1, "batch": 0, "base_id": 1}]
    # Reference (0, 3), points (-acc, log10 params): (-0.6, 1) alone is 0.6 x 2; adding (-0.8, 2) adds 0.2 x 1;
    # one upgrade reorders nothing; after both, (-0.8, 1) covers (-0.6, 2): 0.8 x 2.
    assert hypervolume_curve(rung_records, (0.0, 3.0)) == pytest.approx([1.2, 1.4, 1.4, 1.6])


def test_reference_point_is_shared_by_runs():
    small, large = [record(0, 0.5, 100)], [record(0, 0.9, 10_000), record(1, None, 10 ** 9, "failed")]
    reference = reference_point([small, large])
    assert reference[0] == 0.0 and 4.0 < reference[1] < 5.0  # beyond the largest ok network; failures ignored
    assert reference == reference_point([large, small])
    assert hypervolume(large, reference) > 0.0 and hypervolume(small, reference) > 0.0
    assert reference == pytest.approx((0.0, 4.1))  # 10,000 parameters are 4 decades, plus the 0.1 margin


def test_reference_point_without_any_ok_record():
    # Accuracy 0 and a size of 0 decades (one parameter) plus the margin: every run then has hypervolume 0.
    assert reference_point([]) == (0.0, 0.1)
    assert reference_point([[record(0, None, 10 ** 6, "failed")], []]) == (0.0, 0.1)


def test_formats_carry_the_same_rows():
    front = [record(0, 0.50, 100), record(1, 0.89, 1_000), record(2, 0.90, 10_000), record(3, 0.91, 100_000)]
    rows = front_rows([front], CHANCE)
    table = format_rows(rows, "table").splitlines()
    assert len(table) == 1 + len(front) and "*" in table[2] and "*" not in "".join(table[1:2] + table[3:])
    parsed_csv = list(csv.DictReader(io.StringIO(format_rows(rows, "csv"))))
    assert [int(row["id"]) for row in parsed_csv] == [0, 1, 2, 3] and parsed_csv[1]["knee"] == "True"
    parsed_json = json.loads(format_rows(rows, "json"))
    assert [row["id"] for row in parsed_json] == [0, 1, 2, 3] and parsed_json[1]["knee"] is True
    assert evohybrid.Genome.from_dict(parsed_json[0]["genome"]).describe() == parsed_json[0]["architecture"]


def test_front_rows_carry_the_flops_and_no_fronts_give_no_rows():
    rows = front_rows([[record(0, 0.5, 100), record(1, 0.9, 1_000)]], CHANCE)
    assert [row["flops"] for row in rows] == [1_000, 10_000]
    assert [row["architecture"] for row in rows] == [ARCHITECTURE] * 2
    assert front_rows([], CHANCE) == []


def test_thousands():
    assert thousands(1_234_567) == "1,234,567"
    assert thousands(0) == "0"  # zero is a known count, not a missing one
    assert thousands(None) == "-"


def test_table_columns_are_aligned_with_the_knee_starred_chance_marked_and_counts_separated():
    front = ([record(5, 0.08, 10)] + [record(*point) for point in L_SHAPED]
             + [{**record(4, 0.95, 1_000_000), "flops": None}])
    header, *lines = format_rows(front_rows([front], CHANCE)).split("\n")
    assert header.split() == ["rank", "id", "val_acc", "params", "flops", "knee", "chance", "architecture"]
    assert [line.split() for line in lines] == [
        ["1", "5", "0.0800", "10", "100", "<=", ARCHITECTURE],  # below chance: marked, and not the knee
        ["1", "0", "0.5000", "100", "1,000", ARCHITECTURE],
        ["1", "1", "0.8900", "1,000", "10,000", "*", ARCHITECTURE],
        ["1", "2", "0.9000", "10,000", "100,000", ARCHITECTURE],
        ["1", "3", "0.9100", "100,000", "1,000,000", ARCHITECTURE],
        ["1", "4", "0.9500", "1,000,000", "-", ARCHITECTURE],  # FLOPs unknown
    ]
    # Right-aligned columns of 4, 5, 8, 10, 12, 4 and 6 characters, two spaces apart, then the architecture.
    assert header == "".join(["rank", "  ", "   id", "  ", " val_acc", "  ", "    params", "  ", "       flops", "  ",
                              "knee", "  ", "chance", "  ", "architecture"])
    assert lines[0] == "".join(["   1", "  ", "    5", "  ", "  0.0800", "  ", "        10", "  ", "         100", "  ",
                                "    ", "  ", "    <=", "  ", ARCHITECTURE])
    assert lines[2] == "".join(["   1", "  ", "    1", "  ", "  0.8900", "  ", "     1,000", "  ", "      10,000", "  ",
                                "   *", "  ", "      ", "  ", ARCHITECTURE])
    assert {line.index(ARCHITECTURE) for line in lines} == {header.index("architecture")}


def test_json_is_indented_and_csv_has_plain_newlines():
    rows = front_rows([[record(*point) for point in L_SHAPED]], CHANCE)
    assert format_rows(rows, "json").split("\n")[:3] == ["[", "  {", '    "rank": 1,']
    text = format_rows(rows, "csv")
    assert text.split("\n") == ["rank,id,val_acc,params,flops,knee,chance,architecture",
                                 f"1,0,0.5,100,1000,False,False,{ARCHITECTURE}",
                                 f"1,1,0.89,1000,10000,True,False,{ARCHITECTURE}",
                                 f"1,2,0.9,10000,100000,False,False,{ARCHITECTURE}",
                                 f"1,3,0.91,100000,1000000,False,False,{ARCHITECTURE}"]  # no \r, no trailing newline


def test_format_front_is_the_table_of_one_front():
    lines = format_front([record(*point) for point in L_SHAPED], CHANCE).split("\n")
    assert lines[0].split() == ["rank", "id", "val_acc", "params", "flops", "knee", "chance", "architecture"]
    assert [line.split()[1] for line in lines[1:]] == ["0", "1", "2", "3"]
    assert [line.split()[5] == "*" for line in lines[1:]] == [False, True, False, False]


def test_pareto_command_on_a_run_directory(tmp_path, capsys):
    store = RunStore.create(tmp_path / "run", {"config": evohybrid.Config().to_dict()})
    records = random_records(random.Random(3), 30)
    for each in records:
        store.append(each)
    assert main(["pareto", str(store.path), "--fronts", "2", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = brute_force_fronts(records)
    assert {row["id"] for row in rows if row["rank"] == 2} == expected[1]
    assert main(["pareto", str(store.path)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + len(expected[0])


def test_pareto_command_takes_the_chance_level_from_the_run_config(tmp_path, capsys):
    records = [record(*point) for point in BELOW_CHANCE_ANCHOR]
    marked = {}
    for dataset in ("fashion-mnist", "cifar100"):
        store = RunStore.create(tmp_path / dataset, {"config": evohybrid.Config().override("data", dataset=dataset)
                                                     .to_dict()})
        store.append(*records)
        assert main(["pareto", str(store.path), "--format", "json"]) == 0
        marked[dataset] = [(row["id"], row["chance"], row["knee"]) for row in json.loads(capsys.readouterr().out)]
    # 0.0975 is below 1/10 but far above 1/100: only on 100 classes does id 0 anchor the chord.
    assert marked["fashion-mnist"] == [(0, True, False), (1, False, False), (2, False, True), (3, False, False)]
    assert marked["cifar100"] == [(0, False, False), (1, False, True), (2, False, False), (3, False, False)]


def test_pareto_command_errors_are_one_line(tmp_path, capsys):
    assert main(["pareto", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(["pareto", str(tmp_path), "--fronts", "0"])
    assert exit_info.value.code == 2 and capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("seed", range(20))
def test_the_archive_kept_one_record_at_a_time_is_the_first_front(seed):
    records = random_records(random.Random(seed), 60)
    archive = ParetoArchive()
    for index, each in enumerate(records):
        archive.add(each, records[:index + 1])
        fronts = brute_force_fronts(records[:index + 1])
        assert {r["id"] for r in archive.front} == (fronts[0] if fronts else set())
    assert [r["params"] for r in archive.front] == sorted(r["params"] for r in archive.front)
    assert archive.best_accuracy() == max(r["val_acc"] for r in records if r["status"] == "ok")
    assert {r["id"] for r in ParetoArchive(records).front} == {r["id"] for r in pareto_front(records)}
