"""Genome and StageGene: validation, the JSON form, and the hash that identifies a network."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

import evohybrid
from evohybrid.errors import GenomeError
from evohybrid.spaces.genome import BLOCK_TYPES, Genome, StageGene

from conftest import SPACE_NAMES

EMPTY = StageGene(0, 0, 0, 1, ())
A = StageGene(2, 8, 3, 1, (True, False))
B = StageGene(1, 32, 5, 2, (False,))
C = StageGene(3, 64, 3, 2, (True, True, False))


# -- validation ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, field_name", [
    ((1, 8, 4, 1, (True,)), "kernel"),          # even kernel
    ((1, 8, 2, 1, (True,)), "kernel"),
    ((1, 8, 0, 1, (True,)), "kernel"),
    ((1, 8, -3, 1, (True,)), "kernel"),
    ((1, 8, 3, 3, (True,)), "stride"),          # stride 3
    ((1, 8, 3, 0, (True,)), "stride"),
    ((2, 8, 3, 1, (True,)), "residual"),        # residual shorter than depth
    ((1, 8, 3, 1, (True, False)), "residual"),  # residual longer than depth
    ((1, 8, 3, 1, (1,)), "residual"),           # residual bits must be booleans, not ints
    ((1, 8, 3, 1, ("yes",)), "residual"),
    ((1, 0, 3, 1, (True,)), "width"),
    ((1, -8, 3, 1, (True,)), "width"),
    ((-1, 8, 3, 1, ()), "depth"),
    ((True, 8, 3, 1, (True,)), "depth"),        # bool is not an integer here
    ((1, True, 3, 1, (True,)), "width"),
    ((1, 8, True, 1, (True,)), "kernel"),
    ((1, 8, 3, True, (True,)), "stride"),
    ((1, 8.0, 3, 1, (True,)), "width"),         # nor is a float
    ((1, 8, 3.0, 1, (True,)), "kernel"),
    ((1.0, 8, 3, 1, (True,)), "depth"),
    (("1", 8, 3, 1, (True,)), "depth"),
])
def test_stage_gene_rejects_bad_fields(fields, field_name):
    with pytest.raises(GenomeError, match=field_name):
        StageGene(*fields)


@pytest.mark.parametrize("dilation", [0, -1])
def test_stage_gene_rejects_a_dilation_below_one(dilation):
    with pytest.raises(GenomeError) as info:
        StageGene(1, 8, 3, 1, (True,), dilation=dilation)
    assert str(info.value) == f"stage dilation must be >= 1, got {dilation}"


def test_the_smallest_stage_is_one_channel_wide_with_a_one_tap_kernel():
    assert StageGene(1, 1, 1, 1, (True,)).to_dict() == {"depth": 1, "width": 1, "kernel": 1, "stride": 1,
                                                        "residual": [True]}


def test_stage_gene_rejects_a_non_sequence_residual():
    # Every other bad field is a GenomeError; a bare bool for `residual` must be one too.
    with pytest.raises(GenomeError, match="residual"):
        StageGene(1, 8, 3, 1, True)


@pytest.mark.parametrize("stem_width", [-1, -4, True, False, 8.0, 0.0, "8", None])
def test_genome_rejects_bad_stem_width(stem_width):
    with pytest.raises(GenomeError) as info:
        Genome(stem_width, (A,))
    assert str(info.value) == f"stem_width must be an integer >= 0 (0: no stem), got {stem_width!r}"


def test_a_stem_of_one_channel_is_a_genome():
    assert Genome(1, (A,)).stem_width == 1


def test_a_stem_width_of_zero_is_a_genome_without_a_stem():
    genome = Genome(0, (A,))
    assert genome.stem_width == 0
    assert genome.to_dict()["stem_width"] == 0
    assert genome.describe() == "s0|2x8k3r10"
    assert genome != Genome(1, (A,)) and genome.hash != Genome(1, (A,)).hash


@pytest.mark.parametrize("block", ["Basic", "dense", "", "p"])
def test_stage_gene_rejects_an_unknown_block(block):
    with pytest.raises(GenomeError) as info:
        StageGene(1, 8, 3, 1, (True,), block=block)
    assert str(info.value) == (f"unknown block type {block!r}: use one of "
                               "['basic', 'plain', 'resnet', 'inception']")


@pytest.mark.parametrize("width", [1, 2, 6, 30, 130])
def test_an_inception_stage_is_a_multiple_of_four_wide(width):
    with pytest.raises(GenomeError) as info:
        StageGene(1, width, 3, 1, (True,), block="inception")
    assert str(info.value) == f"an inception stage's width must be a multiple of 4 (its four branches), got {width}"
    for block in ("basic", "plain", "resnet"):  # the other blocks take any width
        assert StageGene(1, width, 3, 1, (True,), block=block).width == width
    assert StageGene(1, 4, 3, 1, (True,), block="inception").width == 4


def test_an_absent_stage_forgets_its_block():
    assert StageGene(0, 8, 3, 1, (True,), block="inception") == EMPTY
    assert StageGene(0, 7, 3, 1, (), block="nonsense") == EMPTY  # nothing of an absent stage is checked
    assert EMPTY.block == "basic"


@pytest.mark.parametrize("kind", ["", 3, None])
def test_genome_rejects_a_kind_that_is_not_a_name(kind):
    with pytest.raises(GenomeError, match=f"^genome kind must be a name such as 'conv2d', got {kind!r}$"):
        Genome(8, (A,), kind=kind)


@pytest.mark.parametrize("stages, message", [
    ((), "a genome needs at least one stage"),
    ((EMPTY,), "a genome needs at least one stage of depth >= 1"),
    ((EMPTY, EMPTY, EMPTY), "a genome needs at least one stage of depth >= 1"),
    ((StageGene(0, 16, 5, 2, (True,)),), "a genome needs at least one stage of depth >= 1"),  # depth 0: absent
])
def test_genome_rejects_stages_without_any_block(stages, message):
    with pytest.raises(GenomeError) as info:
        Genome(8, stages)
    assert str(info.value) == message


def test_genome_rejects_stages_that_are_not_stage_genes():
    with pytest.raises(GenomeError) as info:
        Genome(8, (A, A.to_dict()))
    assert str(info.value) == "a genome needs at least one stage"


def test_genome_and_stage_are_immutable():
    genome = Genome(8, (A, B))
    with pytest.raises(dataclasses.FrozenInstanceError):
        genome.stem_width = 16
    with pytest.raises(dataclasses.FrozenInstanceError):
        A.width = 16


def test_genome_accepts_lists_and_stores_tuples():
    genome = Genome(8, [StageGene(2, 8, 3, 1, [True, False]), B])
    assert isinstance(genome.stages, tuple)
    assert genome.stages[0].residual == (True, False)
    assert genome == Genome(8, (A, B))
    assert genome.depth == 3


# -- JSON form ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_json_round_trip_is_exact_for_random_genomes(space_name):
    space = evohybrid.load_space(space_name)
    for seed in range(150):
        rng = random.Random(seed)
        genome = space.sample(rng)
        for candidate in (genome, space.mutate(genome, rng), space.crossover(genome, space.sample(rng), rng)):
            text = candidate.to_json()
            back = Genome.from_json(text)
            assert back == candidate
            assert back.to_json() == text
            assert back.hash == candidate.hash
            assert Genome.from_dict(json.loads(text)) == candidate
            assert json.loads(text) == candidate.to_dict()


def test_json_round_trip_keeps_empty_stages_in_place():
    genome = Genome(8, (A, EMPTY, B))
    back = Genome.from_json(genome.to_json())
    assert back == genome
    assert back.stages[1] == EMPTY
    assert back != Genome(8, (A, B, EMPTY))


EVERY_BLOCK = Genome(0, (StageGene(2, 8, 3, 1, (True, False), block="plain"), EMPTY,
                         StageGene(1, 16, 7, 2, (True,), dilation=2, block="resnet"),
                         StageGene(2, 32, 39, 1, (False, True), block="inception"),
                         StageGene(1, 8, 5, 1, (False,))), "conv1d")


def test_json_round_trip_of_every_block_type_and_no_stem():
    text = EVERY_BLOCK.to_json()
    back = Genome.from_json(text)
    assert back == EVERY_BLOCK
    assert [stage.block for stage in back.stages] == ["plain", "basic", "resnet", "inception", "basic"]
    assert back.stem_width == 0
    assert back.to_json() == text
    assert back.hash == EVERY_BLOCK.hash
    assert Genome.from_dict(json.loads(text)) == EVERY_BLOCK
    assert [stage.get("block") for stage in json.loads(text)["stages"]] == ["plain", None, "resnet", "inception",
                                                                           None]


def test_a_basic_stage_has_no_block_key():
    # Left out at its default, as the dilation is: every genome written before block types keeps its form and hash.
    genome = Genome(8, (A, EMPTY, B))
    assert "block" not in A.to_dict() and "block" not in EMPTY.to_dict()
    assert '"block"' not in genome.to_json()
    assert '"block"' not in genome.canonical_json()
    assert all("block" not in stage for stage in json.loads(genome.canonical_json())["stages"])
    # Other blocks are written, in both forms.
    plain = StageGene(1, 8, 3, 1, (True,), block="plain")
    assert plain.to_dict()["block"] == "plain"
    assert '"block":"plain"' in Genome(8, (plain,)).canonical_json()


def test_from_dict_accepts_the_block_key_and_basic_is_the_default():
    written = {"stem_width": 8, "stages": [{"depth": 2, "width": 8, "kernel": 3, "stride": 1,
                                            "residual": [True, False]}]}
    explicit = {"stem_width": 8, "stages": [{"depth": 2, "width": 8, "kernel": 3, "stride": 1,
                                             "residual": [True, False], "block": "basic"}]}
    assert Genome.from_dict(written) == Genome.from_dict(explicit) == Genome(8, (A,))
    assert Genome.from_dict(written).hash == Genome.from_dict(explicit).hash == Genome(8, (A,)).hash
    assert Genome.from_dict(explicit).to_dict() == written  # the default is not written back
    for block in BLOCK_TYPES:
        stage = {"depth": 1, "width": 8, "kernel": 3, "stride": 1, "residual": [True], "block": block}
        assert Genome.from_dict({"stem_width": 0, "stages": [stage]}).stages[0].block == block
    # An absent stage written with a block is an absent stage.
    assert Genome.from_dict({"stem_width": 8, "stages": [{"depth": 0, "block": "resnet"}, B.to_dict()]}) == \
        Genome(8, (EMPTY, B))


@pytest.mark.parametrize("stage, message", [
    ({"depth": 1, "width": 8, "kernel": 3, "stride": 1, "residual": [True], "block": "dense"},
     "unknown block type 'dense': use one of ['basic', 'plain', 'resnet', 'inception']"),
    ({"depth": 1, "width": 8, "kernel": 3, "stride": 1, "residual": [True], "block": None},
     "unknown block type None: use one of ['basic', 'plain', 'resnet', 'inception']"),
    ({"depth": 1, "width": 10, "kernel": 3, "stride": 1, "residual": [True], "block": "inception"},
     "an inception stage's width must be a multiple of 4 (its four branches), got 10"),
])
def test_from_dict_rejects_a_bad_block(stage, message):
    with pytest.raises(GenomeError) as info:
        Genome.from_dict({"stem_width": 8, "stages": [stage]})
    assert str(info.value) == message


def test_to_json_is_compact_and_sorted():
    text = Genome(8, (A,)).to_json()
    assert " " not in text
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[]", "stem_width"),
    ('{"stem_width": 8}', "stem_width"),
    ('{"stem_width": 8, "stages": [], "extra": 1}', "stem_width"),
    ('{"stem_width": 8, "stages": {}}', "stages"),
    ('{"stem_width": 8, "stages": []}', "stage"),
    ('{"stem_width": 8, "stages": [1]}', "stage 0"),
    ('{"stem_width": 8, "stages": [{"width": 8}]}', "stage 0"),
    ('{"stem_width": 8, "stages": [{"depth": 1, "width": 8, "kernel": 3, "stride": 1}]}', "residual"),
    ('{"stem_width": 8, "stages": [{"depth": 1, "width": 8, "kernel": 3, "stride": 1, "residual": true}]}',
     "residual"),
    ('{"stem_width": 8, "stages": [{"depth": 1, "width": 8, "kernel": 3, "stride": 1, "residual": [1]}]}',
     "residual"),
    ('{"stem_width": 8, "stages": [{"depth": 1, "width": 8, "kernel": 4, "stride": 1, "residual": [true]}]}',
     "kernel"),
    ('{"stem_width": 8, "stages": [{"depth": 1, "width": 8, "kernel": 3, "stride": 1, "residual": [true], '
     '"colour": 1}]}', "stage 0"),
    ('{"stem_width": "8", "stages": [{"depth": 1, "width": 8, "kernel": 3, "stride": 1, "residual": [true]}]}',
     "stem_width"),
    ('{"stem_width": 8, "stages": [{"depth": 0}]}', "depth >= 1"),
])
def test_from_json_errors_are_genome_errors(text, fragment):
    with pytest.raises(GenomeError, match=fragment):
        Genome.from_json(text)


@pytest.mark.parametrize("data, message", [
    ([], "a genome is a JSON object with the keys 'stem_width' and 'stages' (and 'kind')"),
    ({"stem_width": 8}, "a genome is a JSON object with the keys 'stem_width' and 'stages' (and 'kind')"),
    ({"stem_width": 8, "stages": {}}, "genome 'stages' must be a list"),
])
def test_from_dict_says_what_a_genome_looks_like(data, message):
    with pytest.raises(GenomeError) as info:
        Genome.from_dict(data)
    assert str(info.value) == message


def test_from_json_accepts_an_absent_stage_written_short():
    genome = Genome.from_json('{"stem_width": 8, "stages": [{"depth": 0}, '
                              '{"depth": 1, "width": 32, "kernel": 5, "stride": 2, "residual": [false]}]}')
    assert genome == Genome(8, (EMPTY, B))


@pytest.mark.parametrize("depth", ["false", "0.0"])
def test_from_json_rejects_a_non_integer_depth(depth):
    # StageGene(False, ...) and StageGene(0.0, ...) are GenomeErrors; the JSON path must agree.
    with pytest.raises(GenomeError, match="depth"):
        Genome.from_json('{"stem_width": 8, "stages": [{"depth": %s}, '
                         '{"depth": 1, "width": 32, "kernel": 5, "stride": 2, "residual": [false]}]}' % depth)


# -- identity -----------------------------------------------------------------------------------------------------

def test_hash_is_stable_across_processes_and_versions():
    # A run directory stores these hashes: changing the canonical form breaks resuming old runs.
    assert Genome(4, (StageGene(1, 4, 3, 1, (True,)),)).hash == "7c2da1a1c2a440e9"
    genome = Genome(8, (A, EMPTY, B))
    assert genome.hash == Genome.from_json(genome.to_json()).hash
    assert len(genome.hash) == 16 and int(genome.hash, 16) >= 0


def test_hash_of_a_kind_and_a_dilation_is_stable():
    # The canonical form is written out by hand: its bytes, and so the hashes that logs store, must not move.
    genome = Genome(8, (StageGene(2, 16, 5, 2, (True, False), dilation=4), EMPTY, StageGene(1, 32, 3, 1, (False,))),
                    "conv1d")
    assert genome.hash == "58c240a93b518669"


def test_hash_of_a_basic_genome_is_the_one_from_before_block_types():
    # Computed with the genome code from before block types and stem width 0 existed: the same bytes, the same hash.
    genome = Genome(16, (StageGene(2, 32, 7, 1, (True, False)), EMPTY, StageGene(1, 64, 5, 2, (False,), dilation=2)),
                    "conv1d")
    assert genome.canonical_json() == (
        '{"kind":"conv1d","stages":[{"depth":2,"kernel":7,"residual":[true,false],"stride":1,"width":32},'
        '{"depth":1,"dilation":2,"kernel":5,"residual":[false],"stride":2,"width":64}],"stem_width":16}')
    assert genome.hash == "9d0d61dfd95a6ada"
    explicit = Genome(16, tuple(dataclasses.replace(stage, block="basic") for stage in genome.stages), "conv1d")
    assert explicit == genome and explicit.hash == "9d0d61dfd95a6ada"


def test_hash_of_block_types_and_no_stem_is_stable():
    # The canonical form is written out by hand: its bytes, and so the hashes that logs store, must not move.
    assert EVERY_BLOCK.canonical_json() == (
        '{"kind":"conv1d","stages":['
        '{"block":"plain","depth":2,"kernel":3,"residual":[true,false],"stride":1,"width":8},'
        '{"block":"resnet","depth":1,"dilation":2,"kernel":7,"residual":[true],"stride":2,"width":16},'
        '{"block":"inception","depth":2,"kernel":39,"residual":[false,true],"stride":1,"width":32},'
        '{"depth":1,"kernel":5,"residual":[false],"stride":1,"width":8}],"stem_width":0}')
    assert EVERY_BLOCK.hash == "3bc41d07b77b583b"


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_canonical_json_is_the_sorted_compact_json_of_the_present_stages(space_name):
    space = evohybrid.load_space(space_name)
    rng = random.Random(0)
    for _ in range(200):
        genome = space.mutate(space.sample(rng), rng)
        form = genome.to_dict()
        form["stages"] = [stage for stage in form["stages"] if stage["depth"]]
        assert genome.canonical_json() == json.dumps(form, sort_keys=True, separators=(",", ":"))


def test_empty_stage_position_does_not_change_the_hash():
    first, second, third = Genome(8, (A, EMPTY, B)), Genome(8, (A, B, EMPTY)), Genome(8, (EMPTY, A, B))
    assert first != second  # different genomes ...
    assert first.hash == second.hash == third.hash  # ... that build the same network
    assert first.canonical_json() == second.canonical_json()
    assert first.describe() == second.describe()


def test_describe_names_the_stem_and_each_present_stage():
    # s<stem>|<depth>x<width>k<kernel>[/2 when stride 2]r<one residual bit per block>; absent stages are left out.
    assert Genome(8, (A, EMPTY, B)).describe() == "s8|2x8k3r10|1x32k5/2r0"
    assert Genome(16, (StageGene(2, 32, 3, 1, (True, True)), C)).describe() == "s16|2x32k3r11|3x64k3/2r110"


def test_describe_marks_a_dilation_and_a_kind_other_than_conv2d():
    dilated = StageGene(2, 16, 5, 2, (True, False), dilation=4)
    assert Genome(8, (dilated,), "conv1d").describe() == "conv1d:s8|2x16k5d4/2r10"
    assert Genome(8, (dilated,)).describe() == "s8|2x16k5d4/2r10"


@pytest.mark.parametrize("block, letter", [("basic", ""), ("plain", "p"), ("resnet", "r"), ("inception", "i")])
def test_describe_marks_a_block_other_than_basic_after_the_depth(block, letter):
    assert Genome(8, (StageGene(2, 128, 39, 1, (True, True), block=block),)).describe() == f"s8|2x{letter}128k39r11"
    strided = StageGene(1, 64, 7, 2, (False,), dilation=2, block=block)
    assert Genome(0, (strided,), "conv1d").describe() == f"conv1d:s0|1x{letter}64k7d2/2r0"


def test_describe_of_the_reference_networks():
    fcn = Genome(0, (StageGene(1, 128, 7, 1, (False,), block="plain"), StageGene(1, 256, 5, 1, (False,), block="plain"),
                     StageGene(1, 128, 3, 1, (False,), block="plain")), "conv1d")
    assert fcn.describe() == "conv1d:s0|1xp128k7r0|1xp256k5r0|1xp128k3r0"
    assert EVERY_BLOCK.describe() == "conv1d:s0|2xp8k3r10|1xr16k7d2/2r1|2xi32k39r01|1x8k5r0"


def test_empty_stages_with_leftover_fields_normalise_equal():
    leftovers = [StageGene(0, 16, 5, 2, (True,)), StageGene(0, 7, 9, 3, ()), StageGene(0, 1, 1, 1, (False, True)),
                 StageGene(0, 8, 3, 1, (True,), dilation=2), StageGene(0, 8, 3, 1, (True,), block="inception")]
    for stage in leftovers:
        assert stage == EMPTY
        assert stage.to_dict() == {"depth": 0, "width": 0, "kernel": 0, "stride": 1, "residual": []}
        assert Genome(8, (A, stage, B)) == Genome(8, (A, EMPTY, B))
        assert Genome(8, (A, stage, B)).hash == Genome(8, (A, EMPTY, B)).hash


def _variants(genome: Genome) -> list[Genome]:
    """Genomes that differ from `genome` in exactly one gene (of a present stage or the stem)."""
    variants = [Genome(genome.stem_width + 1, genome.stages, genome.kind)]
    if genome.stem_width:
        variants.append(Genome(0, genome.stages, genome.kind))  # no stem
    for index, stage in enumerate(genome.stages):
        if stage.depth == 0:
            continue
        changed = [
            dataclasses.replace(stage, width=stage.width + (4 if stage.block == "inception" else 1)),
            dataclasses.replace(stage, kernel=stage.kernel + 2),
            dataclasses.replace(stage, stride=3 - stage.stride),
            dataclasses.replace(stage, dilation=stage.dilation + 1),
            dataclasses.replace(stage, depth=stage.depth + 1, residual=stage.residual + (True,)),
            StageGene(0, 0, 0, 1, ()),
        ]
        if stage.depth > 1:
            changed.append(dataclasses.replace(stage, depth=stage.depth - 1, residual=stage.residual[:-1]))
        # Another block type: every one the width allows.
        changed += [dataclasses.replace(stage, block=block) for block in BLOCK_TYPES
                    if block != stage.block and (block != "inception" or stage.width % 4 == 0)]
        for bit in range(stage.depth):
            flipped = list(stage.residual)
            flipped[bit] = not flipped[bit]
            changed.append(dataclasses.replace(stage, residual=tuple(flipped)))
        for new_stage in changed:
            stages = genome.stages[:index] + (new_stage,) + genome.stages[index + 1:]
            if any(s.depth for s in stages):
                variants.append(Genome(genome.stem_width, stages, genome.kind))
    return variants


@pytest.mark.parametrize("genome", [Genome(8, (A, EMPTY, B, C)), EVERY_BLOCK, dataclasses.replace(EVERY_BLOCK,
                                                                                             stem_width=4)])
def test_hash_differs_when_any_gene_differs(genome):
    variants = _variants(genome)
    assert len(variants) > 20
    assert (Genome(0, genome.stages, genome.kind) in variants) == (genome.stem_width > 0)  # the stem taken away
    assert any(v.stages[0].block != genome.stages[0].block for v in variants if v.stages[0].depth)
    hashes = {variant.hash for variant in variants}
    assert genome.hash not in hashes
    assert len(hashes) == len(variants)  # every single change gives a distinct network


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_hash_differs_for_every_single_gene_change_of_random_genomes(space_name):
    space = evohybrid.load_space(space_name)
    for seed in range(40):
        genome = space.sample(random.Random(seed))
        assert all(variant.hash != genome.hash for variant in _variants(genome))


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_equal_hash_means_same_network(space_name):
    # Over many samples, genomes share a hash exactly when their present stages are equal.
    space = evohybrid.load_space(space_name)
    by_hash: dict[str, tuple] = {}
    for seed in range(300):
        genome = space.sample(random.Random(seed))
        present = (genome.stem_width, tuple(stage for stage in genome.stages if stage.depth))
        assert by_hash.setdefault(genome.hash, present) == present
