"""Search spaces: the variation operators stay inside the space and are pure; bad space files are ConfigErrors."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
import math
import random
from pathlib import Path

import pytest
import yaml

import evohybrid
from evohybrid.errors import ConfigError, GenomeError
from evohybrid.spaces.genome import Genome, StageGene
from evohybrid.spaces.space import SPACES_DIR, SearchSpace

SEEDS = range(300)


def _snapshot(genome: Genome) -> tuple[str, Genome]:
    return genome.to_json(), genome


def test_every_shipped_space_loads_by_name_and_by_path(space):
    by_path = evohybrid.load_space(SPACES_DIR / f"{space.name}.yaml")
    assert by_path == space
    assert space.stem_widths and space.stages
    assert any(stage.max_depth >= 1 for stage in space.stages)
    assert space.size >= 2


def test_sample_is_valid(space):
    for seed in SEEDS:
        genome = space.sample(random.Random(seed))
        space.validate(genome)
        assert genome.depth >= 1


def test_sample_reaches_every_choice(space):
    rng = random.Random(0)
    genomes = [space.sample(rng) for _ in SEEDS]
    assert {g.stem_width for g in genomes} == set(space.stem_widths)
    for index, choices in enumerate(space.stages):
        stages = [g.stages[index] for g in genomes]
        assert {s.depth for s in stages} == set(range(choices.min_depth, choices.max_depth + 1))
        present = [s for s in stages if s.depth]
        if present:
            assert {s.width for s in present} == set(choices.widths)
            assert {s.kernel for s in present} == set(choices.kernels)
            assert {bit for s in present for bit in s.residual} == set(choices.residual)
            assert {s.stride for s in present} == set(choices.strides)
            assert {s.block for s in present} == set(choices.blocks)


def test_mutate_is_valid_and_changes_the_network(space):
    for seed in SEEDS:
        rng = random.Random(seed)
        genome = space.sample(rng)
        for _ in range(3):  # a short chain: mutants of mutants stay inside the space
            child = space.mutate(genome, rng)
            space.validate(child)
            assert child.hash != genome.hash
            genome = child


def test_crossover_is_valid_and_mixes_whole_stages(space):
    for seed in SEEDS:
        rng = random.Random(seed)
        first, second = space.sample(rng), space.sample(rng)
        child = space.crossover(first, second, rng)
        space.validate(child)
        assert child.stem_width in (first.stem_width, second.stem_width)
        for stage, a, b in zip(child.stages, first.stages, second.stages):
            assert stage in (a, b)


def test_crossover_of_a_genome_with_itself_is_itself(space):
    for seed in range(20):
        genome = space.sample(random.Random(seed))
        assert space.crossover(genome, genome, random.Random(seed)) == genome


def test_operators_are_pure(space):
    for seed in range(100):
        first, second = space.sample(random.Random(seed)), space.sample(random.Random(seed + 1000))
        before = [_snapshot(first), _snapshot(second)]

        mutants = [space.mutate(first, random.Random(seed)) for _ in range(2)]
        children = [space.crossover(first, second, random.Random(seed)) for _ in range(2)]
        samples = [space.sample(random.Random(seed)) for _ in range(2)]

        assert mutants[0] == mutants[1]
        assert children[0] == children[1]
        assert samples[0] == samples[1] == first
        assert [_snapshot(first), _snapshot(second)] == before  # inputs untouched


def test_operators_draw_only_from_the_given_rng(space):
    genome = space.sample(random.Random(1))
    random.seed(1)
    expected = space.mutate(genome, random.Random(7))
    random.seed(2)  # the global generator must not matter
    assert space.mutate(genome, random.Random(7)) == expected


def test_mutate_and_crossover_reject_genomes_outside_the_space(space):
    outside = dataclasses.replace(space.sample(random.Random(0)), stem_width=max(space.stem_widths) + 1)
    inside = space.sample(random.Random(1))
    with pytest.raises(GenomeError, match="stem_width"):
        space.mutate(outside, random.Random(0))
    with pytest.raises(GenomeError):
        space.crossover(inside, outside, random.Random(0))


def test_validate_names_the_offending_gene(space):
    genome = space.sample(random.Random(3))
    index = next(i for i, stage in enumerate(genome.stages) if stage.depth)
    stage, choices = genome.stages[index], space.stages[index]
    cases = {
        "width": dataclasses.replace(stage, width=max(choices.widths) + 1),
        "kernel": dataclasses.replace(stage, kernel=max(choices.kernels) + 2),
        "dilation": dataclasses.replace(stage, dilation=max(choices.dilations) + 1),
        "depth": dataclasses.replace(stage, depth=choices.max_depth + 1, residual=(True,) * (choices.max_depth + 1)),
    }
    if len(choices.strides) == 1:  # a stage that offers both strides takes any stride a gene can hold (1 or 2)
        cases["stride"] = dataclasses.replace(stage, stride=3 - stage.stride)
    for fragment, bad_stage in cases.items():
        bad = dataclasses.replace(genome, stages=genome.stages[:index] + (bad_stage,) + genome.stages[index + 1:])
        with pytest.raises(GenomeError, match=fragment):
            space.validate(bad)
    with pytest.raises(GenomeError, match="stages"):
        space.validate(dataclasses.replace(genome, stages=genome.stages + (stage,)))
    with pytest.raises(GenomeError, match="kind"):
        space.validate(dataclasses.replace(genome, kind="conv1d" if space.kind == "conv2d" else "conv2d"))


def test_validate_checks_the_stages_after_an_absent_one():
    space = evohybrid.load_space("default")  # its middle stage may be absent
    first, absent = StageGene(1, 8, 3, 1, (True,)), StageGene(0, 0, 0, 1, ())
    space.validate(Genome(8, (first, absent, StageGene(1, 32, 3, 2, (True,)))))
    with pytest.raises(GenomeError, match="stage 2 width 33"):
        space.validate(Genome(8, (first, absent, StageGene(1, 33, 3, 2, (True,)))))


def test_validate_names_residual_bits_the_space_does_not_offer(tmp_path):
    path = tmp_path / "always-residual.yaml"
    path.write_text("stem: {widths: [4]}\nstages:\n  - {depth: [1, 2], widths: [4], kernels: [3], residual: [true]}\n")
    space = evohybrid.load_space(path)
    with pytest.raises(GenomeError) as info:
        space.validate(Genome(4, (StageGene(2, 4, 3, 1, (True, False)),)))
    assert str(info.value) == "stage 0 residual bits must be among [True]"


@pytest.mark.parametrize("choice", [{"residual": [True, False]}, {"dilations": [1, 2]}, {"widths": [4, 8]},
                                    {"kernels": [3, 5]}, {"depth": [1, 2]}, {"blocks": ["basic", "plain"]},
                                    {"stride": [1, 2]}])
def test_mutate_reaches_the_other_member_when_a_single_gene_has_two_choices(tmp_path, choice):
    stage = {"depth": [1, 1], "widths": [4], "kernels": [3], "residual": [True], **choice}
    path = _write_space(tmp_path, {"stem": {"widths": [4]}, "stages": [stage]})
    space = evohybrid.load_space(path)
    assert space.size == 2
    for seed in range(20):
        genome = space.sample(random.Random(seed))
        child = space.mutate(genome, random.Random(seed))
        space.validate(child)
        assert child != genome, seed


@pytest.mark.parametrize("where", ["stem", "first stage", "last stage"])
def test_mutate_finds_the_one_gene_that_can_change_among_many_that_cannot(tmp_path, where):
    # Thirteen stages and a stem, one of them with a choice (two widths): a mutation must still change the genome.
    fixed = {"depth": [1, 1], "widths": [4], "kernels": [3], "residual": [True]}
    stages = [dict(fixed) for _ in range(13)]
    if where != "stem":
        stages[0 if where == "first stage" else -1]["widths"] = [4, 8]
    raw = {"stem": {"widths": [4, 8] if where == "stem" else [4]}, "stages": stages}
    space = evohybrid.load_space(_write_space(tmp_path, raw))
    genome = space.sample(random.Random(0))
    for seed in range(50):
        child = space.mutate(genome, random.Random(seed))
        changed = [child.stem_width != genome.stem_width] + [a != b for a, b in zip(child.stages, genome.stages)]
        assert changed == [where == "stem", where == "first stage"] + [False] * 11 + [where == "last stage"], seed


# A stage that always has one block of fixed genes, and one that is always absent.
FIXED_PRESENT = {"depth": [1, 1], "widths": [4], "kernels": [3], "residual": [True]}
FIXED_ABSENT = {"depth": [0, 0], "widths": [4], "kernels": [3], "residual": [True]}
# (the one stage with a choice, its gene in the parent, the other 40 stages, stem widths, the one change expected)
FALLBACK_CASES = {
    "grow": ({"depth": [1, 2]}, StageGene(1, 4, 3, 1, (True,)), FIXED_ABSENT, [4], ("depth", 2)),
    "shrink": ({"depth": [1, 2]}, StageGene(2, 4, 3, 1, (True, True)), FIXED_ABSENT, [4], ("depth", 1)),
    "flip a residual bit": ({"residual": [True, False]}, StageGene(1, 4, 3, 1, (True,)), FIXED_PRESENT, [4],
                            ("residual", (False,))),
    "remove": ({"depth": [0, 1]}, StageGene(1, 4, 3, 1, (True,)), FIXED_PRESENT, [4], ("depth", 0)),
    "bring back": ({"depth": [0, 1]}, StageGene(0, 0, 0, 1, ()), FIXED_PRESENT, [4], ("depth", 1)),
    "keep the last stage": ({"depth": [0, 1]}, StageGene(1, 4, 3, 1, (True,)), FIXED_ABSENT, [4, 8], ("stem", 8)),
}


@pytest.mark.parametrize("case", FALLBACK_CASES)
def test_mutate_finds_the_depth_or_bit_that_can_change_among_many_genes_that_cannot(tmp_path, case):
    # Forty stages that cannot change beside one that can: most mutations run out of position-first draws and must
    # find the one gene that has another value. A stage goes to depth 0 only while another stage is present.
    choice, parent_stage, other, stem_widths, (gene, value) = FALLBACK_CASES[case]
    stages = [{**FIXED_PRESENT, **choice}] + [other] * 40
    space = evohybrid.load_space(_write_space(tmp_path, {"stem": {"widths": stem_widths}, "stages": stages}))
    filler = StageGene(1, 4, 3, 1, (True,)) if other is FIXED_PRESENT else StageGene(0, 0, 0, 1, ())
    parent = Genome(4, (parent_stage,) + (filler,) * 40)
    space.validate(parent)
    for seed in range(50):
        child = space.mutate(parent, random.Random(seed))
        space.validate(child)
        if gene == "stem":
            assert child == Genome(value, parent.stages), seed
        else:
            assert child.stages[1:] == parent.stages[1:] and getattr(child.stages[0], gene) == value, seed


def test_mutate_removes_a_stage_only_while_another_remains(tmp_path):
    optional = {"depth": [0, 1], "widths": [4], "kernels": [3], "residual": [True]}
    space = evohybrid.load_space(_write_space(tmp_path, {"stem": {"widths": [4]}, "stages": [optional, optional]}))
    present, absent = StageGene(1, 4, 3, 1, (True,)), StageGene(0, 0, 0, 1, ())
    # One stage present: removing it would leave no block, so the only move adds the other stage.
    children = {space.mutate(Genome(4, (present, absent)), random.Random(seed)) for seed in range(50)}
    assert children == {Genome(4, (present, present))}
    # Both present: either may go.
    children = {space.mutate(Genome(4, (present, present)), random.Random(seed)) for seed in range(50)}
    assert children == {Genome(4, (absent, present)), Genome(4, (present, absent))}


def _changed_gene(parent: Genome, child: Genome) -> tuple[int | None, str]:
    """The one gene in which a mutant differs from its parent: (stage index or None for the stem, field)."""
    changed = [(None, "stem")] if child.stem_width != parent.stem_width else []
    for index, (before, after) in enumerate(zip(parent.stages, child.stages)):
        if before.depth != after.depth:
            changed.append((index, "depth"))
            continue
        changed += [(index, field) for field in ("width", "kernel", "residual", "dilation", "block", "stride")
                    if getattr(before, field) != getattr(after, field)]
    assert len(changed) == 1, (parent, child)
    return changed[0]


def _documented_draw(space: SearchSpace, genome: Genome) -> dict[tuple[int | None, str], float]:
    """The chance of each gene being the one changed, by the draw that `SearchSpace.mutate` documents: a position
    (the stem or a stage), a field of it, a value of that field (current one included), drawn again until it
    changes the genome and leaves a stage present."""
    positions = len(space.stages) + 1
    weights = collections.Counter({(None, "stem"): sum(width != genome.stem_width for width in space.stem_widths)
                                   / len(space.stem_widths) / positions})
    for index, (stage, choices) in enumerate(zip(genome.stages, space.stages)):
        fields = (["depth", "width", "kernel", "residual"] + (["dilation"] if len(choices.dilations) > 1 else [])
                  + (["block"] if len(choices.blocks) > 1 else []))
        for field in fields:
            share = 1 / positions / len(fields)
            if field == "depth" or not stage.depth:  # an absent stage redraws its depth whatever the field
                others = any(other.depth for position, other in enumerate(genome.stages) if position != index)
                depths = range(choices.min_depth, choices.max_depth + 1)
                weights[index, "depth"] += share * sum(d != stage.depth and (d > 0 or others) for d in depths) / len(depths)
            elif field == "residual":
                flips = sum(bit != old for old in stage.residual for bit in choices.residual)
                weights[index, field] += share * flips / (stage.depth * len(choices.residual))
            else:
                values = {"width": choices.widths, "kernel": choices.kernels, "dilation": choices.dilations,
                          "block": choices.blocks}[field]
                weights[index, field] += share * sum(value != getattr(stage, field) for value in values) / len(values)
    total = sum(weights.values())
    return {gene: weight / total for gene, weight in weights.items() if weight}


def test_mutate_draws_a_position_then_a_field_then_a_value(tmp_path):
    # Stage 0 offers every field a choice, stage 1 may be absent, stage 2 has a single depth and width: each gene
    # that can change must be the changed one as often as the documented draw says, and a width's values alike.
    stages = [{"depth": [1, 3], "widths": [4, 8, 16, 32], "kernels": [3, 5], "dilations": [1, 2],
               "blocks": ["basic", "plain", "inception"]},
              {"depth": [0, 2], "widths": [8, 16], "kernels": [3], "residual": [True]},
              {"depth": [2, 2], "widths": [16], "kernels": [3, 5]}]
    space = evohybrid.load_space(_write_space(tmp_path, {"stem": {"widths": [4, 8]}, "stages": stages}))
    parent = Genome(4, (StageGene(2, 8, 3, 1, (True, False), dilation=2), StageGene(1, 8, 3, 1, (True,)),
                        StageGene(2, 16, 5, 1, (False, False))))
    space.validate(parent)
    draws = 20_000
    children = [space.mutate(parent, random.Random(seed)) for seed in range(draws)]
    counts = collections.Counter(_changed_gene(parent, child) for child in children)
    expected = _documented_draw(space, parent)
    assert set(counts) == set(expected) == {
        (None, "stem"), (0, "depth"), (0, "width"), (0, "kernel"), (0, "residual"), (0, "dilation"), (0, "block"),
        (1, "depth"), (1, "width"), (2, "kernel"), (2, "residual")}
    # Within four standard deviations of a count's expectation (at least 300 here), so chance cannot fail it.
    assert all(abs(counts[gene] - share * draws) < 4 * math.sqrt(share * draws) for gene, share in expected.items()), counts
    widths = collections.Counter(child.stages[0].width for child in children
                                 if _changed_gene(parent, child) == (0, "width"))
    assert set(widths) == {4, 16, 32}
    assert max(widths.values()) < 1.3 * min(widths.values()), widths
    blocks = collections.Counter(child.stages[0].residual for child in children
                                 if _changed_gene(parent, child) == (0, "residual"))
    assert set(blocks) == {(False, False), (True, True)}  # one block's bit flipped, either block


@pytest.mark.parametrize("name, chain", [("default", "e7818b8915754bbf"), ("conv1d", "032120fb21d98bf9")])
def test_mutation_draws_are_those_of_the_committed_runs(name, chain):
    # The runs under results/ reproduce, proposal for proposal, only with these draws: a change to them must be a
    # deliberate one, said in the CHANGELOG (fifty mutations in a row from one seed, by the hash of their hashes).
    space = evohybrid.load_space(name)
    rng = random.Random(0)
    genome, hashes = space.sample(rng), []
    for _ in range(50):
        genome = space.mutate(genome, rng)
        hashes.append(genome.hash)
    assert hashlib.sha256(" ".join(hashes).encode()).hexdigest()[:16] == chain


def test_a_lone_choice_of_dilation_other_than_one_is_kept(tmp_path):
    # The dilation is drawn only where there is a choice; a single dilation must still be the space's, not 1.
    stage = {"depth": [0, 2], "widths": [4, 8], "kernels": [3], "dilations": [2]}
    space = evohybrid.load_space(_write_space(tmp_path, {"stem": {"widths": [4]}, "stages": [stage, stage]}))
    rng = random.Random(0)
    for _ in range(100):
        genome = space.sample(rng)
        space.validate(genome)
        for _ in range(5):  # mutations that bring back an absent stage draw it afresh
            genome = space.mutate(genome, rng)
            space.validate(genome)
        assert {stage.dilation for stage in genome.stages if stage.depth} == {2}


def test_a_stage_mutated_to_another_depth_keeps_its_blocks(space):
    # Growing or shrinking happens at the end: width, kernel, dilation, block type and the remaining blocks' bits stay.
    resized = 0
    for seed in SEEDS:
        rng = random.Random(seed)
        genome = space.sample(rng)
        child = space.mutate(genome, rng)
        for before, after in zip(genome.stages, child.stages):
            if before.depth and after.depth and before.depth != after.depth:
                resized += 1
                shared = min(before.depth, after.depth)
                assert (after.width, after.kernel, after.dilation, after.stride, after.block) == (
                    before.width, before.kernel, before.dilation, before.stride, before.block)
                assert after.residual[:shared] == before.residual[:shared]
    assert resized >= 10


def _enumerate(space: SearchSpace) -> set[str]:
    """Every network of a (small) space, by brute force."""
    options = []
    for choices in space.stages:
        stage_options = []
        for depth in range(choices.min_depth, choices.max_depth + 1):
            if depth == 0:
                stage_options.append(StageGene(0, 0, 0, 1, ()))
                continue
            for width, kernel, stride in itertools.product(choices.widths, choices.kernels, choices.strides):
                for bits in itertools.product(choices.residual, repeat=depth):
                    stage_options.append(StageGene(depth, width, kernel, stride, bits))
        options.append(stage_options)
    hashes = set()
    for stem in space.stem_widths:
        for stages in itertools.product(*options):
            if any(stage.depth for stage in stages):
                hashes.add(Genome(stem, stages).hash)
    return hashes


def test_tiny_space_size_matches_enumeration():
    space = evohybrid.load_space("tiny")
    every = _enumerate(space)
    assert len(every) == space.size
    rng = random.Random(0)
    for _ in range(200):
        genome = space.sample(rng)
        assert genome.hash in every
        assert space.mutate(genome, rng).hash in every


def test_mutate_of_a_single_member_space_returns_the_genome(tmp_path):
    path = tmp_path / "single.yaml"
    path.write_text("stem: {widths: [4]}\nstages:\n  - {depth: [1, 1], widths: [4], kernels: [3], residual: [true]}\n")
    space = evohybrid.load_space(path)
    assert space.size == 1
    genome = space.sample(random.Random(0))
    assert space.mutate(genome, random.Random(0)) == genome


def test_a_space_file_without_a_name_is_named_after_the_file(tmp_path):
    path = tmp_path / "my-space.yaml"
    path.write_text("stem: {widths: [4]}\nstages:\n  - {depth: [1, 1], widths: [4], kernels: [3], residual: [true]}\n")
    assert evohybrid.load_space(path).name == "my-space"


# -- loading errors -------------------------------------------------------------------------------------------------

def _write_space(tmp_path: Path, raw) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(raw) if not isinstance(raw, str) else raw)
    return path


def _tiny_raw() -> dict:
    return yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())


def test_unknown_space_name():
    with pytest.raises(ConfigError, match="unknown search space 'no-such-space'") as info:
        evohybrid.load_space("no-such-space")
    assert "tiny" in str(info.value)  # it lists what exists


def test_missing_space_file(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        evohybrid.load_space(missing)
    assert str(missing) in str(info.value)


def test_space_path_that_is_a_directory(tmp_path):
    with pytest.raises(ConfigError):
        evohybrid.load_space(tmp_path)


@pytest.mark.parametrize("text", ["stages: [\n", "stem: {widths: [4]\n", "a: b: c\n", "\tstem: 1\n"])
def test_invalid_yaml(tmp_path, text):
    with pytest.raises(ConfigError, match=r"^search space '.+' is not valid YAML"):
        evohybrid.load_space(_write_space(tmp_path, text))


def _modified(change):
    raw = _tiny_raw()
    change(raw)
    return raw


@pytest.mark.parametrize("raw, fragment", [
    (_modified(lambda r: r.update(colour="red")), "'colour'"),
    (_modified(lambda r: r["stages"][1].update(widht=[8])), "'widht'"),
    (_modified(lambda r: r["stages"][0].update(depth=[2, 1])), r"stages\[0\]\.depth"),
    (_modified(lambda r: r["stages"][1].update(depth=[-1, 1])), r"stages\[1\]\.depth"),
    (_modified(lambda r: r["stages"][1].update(depth=[1])), r"stages\[1\]\.depth"),
    (_modified(lambda r: r["stages"][1].update(depth=[1, 2, 3])), r"stages\[1\]\.depth"),
    (_modified(lambda r: r["stages"][1].update(depth="1-2")), r"stages\[1\]\.depth"),
    (_modified(lambda r: r["stages"][1].update(depth=[0, True])), r"stages\[1\]\.depth"),
    (_modified(lambda r: r["stages"][1].update(depth=[0.0, 2])), r"stages\[1\]\.depth"),
    (_modified(lambda r: r["stages"][0].pop("widths")), "'widths'"),
    (_modified(lambda r: r["stages"][0].pop("depth")), "'depth'"),
    (_modified(lambda r: r["stages"][0].update(widths=[])), r"stages\[0\]\.widths"),
    (_modified(lambda r: r["stages"][0].update(widths=[4, 0])),
     r"^stages\[0\]\.widths must be a non-empty list of positive integers$"),
    (_modified(lambda r: r["stages"][0].update(widths=[4, True])), r"stages\[0\]\.widths"),
    (_modified(lambda r: r["stages"][0].update(kernels=[3, 4])), r"stages\[0\]\.kernels"),
    (_modified(lambda r: r["stages"][0].update(residual=[])), r"stages\[0\]\.residual"),
    (_modified(lambda r: r["stages"][0].update(residual=[1, 0])), r"stages\[0\]\.residual"),
    (_modified(lambda r: r["stages"][0].update(stride=3)), r"stages\[0\]\.stride"),
    (_modified(lambda r: r["stages"][0].update(stride=True)), r"stages\[0\]\.stride"),
    (_modified(lambda r: r.update(stem={"widths": [4], "depth": 1})), "stem"),
    (_modified(lambda r: r.update(stem={"widths": []})), r"^stem\.widths must be"),
    (_modified(lambda r: r["stages"][0].update(dilations=[0])), r"^stages\[0\]\.dilations must be"),
    (_modified(lambda r: r["stages"][0].update(blocks=["basic", "dense"])),
     r"^stages\[0\]\.blocks: unknown block type 'dense': use one of \['basic', 'plain', 'resnet', 'inception'\]$"),
    (_modified(lambda r: r["stages"][0].update(blocks=[])), r"^stages\[0\]\.blocks must be a non-empty list"),
    (_modified(lambda r: r["stages"][0].update(blocks="plain")), r"^stages\[0\]\.blocks must be a non-empty list"),
    (_modified(lambda r: r["stages"][0].update(blocks=["inception"], widths=[4, 6])),
     r"^stages\[0\]\.widths must be multiples of 4 where the stage offers inception blocks"),
    (_modified(lambda r: r.update(stem={"widths": [-1]})), r"^stem\.widths must be a non-empty list of integers >= 0$"),
    (_modified(lambda r: r.update(kind="conv3d")), r"unknown kind 'conv3d': use one of \['conv1d', 'conv2d'\]"),
    (_modified(lambda r: r.pop("stem")), "stem"),
    (_modified(lambda r: r.update(stages=[])), "stages"),
    (_modified(lambda r: r.pop("stages")), "stages"),
    (_modified(lambda r: r.update(stages=[{"depth": [0, 0], "widths": [4], "kernels": [3]}])), "maximum depth"),
    (_modified(lambda r: r["stages"].__setitem__(1, [8, 16])), r"stages\[1\]"),
    ([1, 2, 3], "mapping"),
    ("", "mapping"),
])
def test_bad_space_is_a_config_error_naming_the_key(tmp_path, raw, fragment):
    with pytest.raises(ConfigError, match=fragment):
        evohybrid.load_space(_write_space(tmp_path, raw))


def test_sampling_draws_every_dilation_a_stage_offers(tmp_path):
    space = evohybrid.load_space(_write_space(tmp_path, _modified(lambda r: r["stages"][0].update(dilations=[1, 2]))))
    rng = random.Random(0)
    assert {space.sample(rng).stages[0].dilation for _ in range(40)} == {1, 2}


def test_a_space_is_named_by_its_name_key_else_by_its_file(tmp_path):
    assert evohybrid.load_space(_write_space(tmp_path, _modified(lambda r: r.update(name="mine")))).name == "mine"
    assert evohybrid.load_space(_write_space(tmp_path, _modified(lambda r: r.pop("name")))).name == "space"  # file


def test_a_stage_without_residual_choices_offers_both_bits(tmp_path):
    space = evohybrid.load_space(_write_space(tmp_path, _modified(lambda r: r["stages"][0].pop("residual", None))))
    assert space.stages[0].residual == (False, True)


def test_float_stride_is_rejected_when_loading(tmp_path):
    path = _write_space(tmp_path, _modified(lambda r: r["stages"][1].update(stride=2.0)))
    assert "stride: 2.0" in path.read_text()  # YAML keeps it a float, so the loader really sees 2.0
    # Like every other integer setting of a space, a stride must be an integer: 2.0 is refused, not rounded.
    with pytest.raises(ConfigError, match=r"stages\[1\]\.stride must be 1 or 2"):
        evohybrid.load_space(path)


def test_a_stride_choice_is_sampled_mutated_counted_and_checked(tmp_path):
    space = evohybrid.load_space(_write_space(tmp_path, _modified(lambda r: r["stages"][1].update(stride=[2, 1]))))
    assert space.stages[1].strides == (1, 2)
    rng = random.Random(0)
    genomes = [space.sample(rng) for _ in range(100)]
    assert {genome.stages[1].stride for genome in genomes if genome.stages[1].depth} == {1, 2}
    genome = next(genome for genome in genomes if genome.stages[1].depth)
    children = [space.mutate(genome, random.Random(seed)) for seed in range(300)]
    assert {child.stages[1].stride for child in children if _changed_gene(genome, child) == (1, "stride")} == {
        3 - genome.stages[1].stride}
    assert len(_enumerate(space)) == space.size
    # The first stage keeps its one stride.
    outside = dataclasses.replace(genome, stages=(dataclasses.replace(genome.stages[0], stride=2),) + genome.stages[1:])
    with pytest.raises(GenomeError, match=r"^stage 0 stride 2 is not one of \[1\]$"):
        space.validate(outside)


@pytest.mark.parametrize("stride", [[], [1, 3], [True]])
def test_a_bad_stride_list_is_a_config_error(tmp_path, stride):
    with pytest.raises(ConfigError, match=r"stages\[0\]\.stride must be 1 or 2, or a list of them"):
        evohybrid.load_space(_write_space(tmp_path, _modified(lambda r: r["stages"][0].update(stride=stride))))


def test_a_lone_block_type_is_kept_through_sampling_and_mutation(tmp_path):
    # The block is drawn only where there is a choice; a single block type must still be the space's, not basic.
    stage = {"depth": [0, 2], "widths": [4, 8], "kernels": [3], "blocks": ["plain"]}
    space = evohybrid.load_space(_write_space(tmp_path, {"stem": {"widths": [0, 4]}, "stages": [stage, stage]}))
    rng = random.Random(0)
    for _ in range(100):
        genome = space.sample(rng)
        for _ in range(5):
            genome = space.mutate(genome, rng)
            space.validate(genome)
        assert {stage.block for stage in genome.stages if stage.depth} == {"plain"}


def test_validate_names_a_block_type_the_stage_does_not_offer():
    space = evohybrid.load_space("series")
    genome = space.sample(random.Random(0))
    stages = (dataclasses.replace(genome.stages[0], block="inception", width=32),) + genome.stages[1:]
    space.validate(Genome(genome.stem_width, stages, genome.kind))
    conv1d = evohybrid.load_space("conv1d")
    inside = conv1d.sample(random.Random(0))
    outside = Genome(inside.stem_width, (dataclasses.replace(inside.stages[0], block="plain"),) + inside.stages[1:],
                     inside.kind)
    with pytest.raises(GenomeError, match=r"^stage 0 block plain is not one of \['basic'\]$"):
        conv1d.validate(outside)
