"""Search spaces: which genomes exist, declared as data in `search_spaces/*.yaml`, and the pure
variation operators `(genome, rng) -> genome` that move between them. A space names its kind (`kind: conv2d`, the
default, or `conv1d`): every genome it makes is of that kind."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, GenomeError
from ..yaml_files import read_yaml, resolve_yaml, shipped_folder
from .genome import BLOCK_TYPES, DEFAULT_BLOCK, DEFAULT_KIND, Genome, StageGene
from .kinds import KINDS

SPACES_DIR = shipped_folder("evohybrid.search_spaces")
# The genes of a present stage, in the order mutation draws among them (see `SearchSpace.mutate`); the last three
# only where the stage offers a choice.
STAGE_FIELDS = ("depth", "width", "kernel", "residual", "dilation", "block", "stride")
# Position-first draws per mutation before it draws among the genes that can change (see `SearchSpace.mutate`).
MUTATION_TRIES = 100


@dataclass(frozen=True)
class StageChoices:
    """What one stage may be: a depth range (inclusive), width, kernel, dilation, block-type, stride and residual-bit
    choices. A stride of 2 halves the resolution in the stage's first block."""

    min_depth: int
    max_depth: int
    widths: tuple[int, ...]
    kernels: tuple[int, ...]
    residual: tuple[bool, ...]
    dilations: tuple[int, ...] = (1,)
    blocks: tuple[str, ...] = (DEFAULT_BLOCK,)
    strides: tuple[int, ...] = (1,)

    def fields(self) -> tuple[str, ...]:
        """The genes mutation draws among: dilation, block and stride only where the stage offers a choice, so
        spaces without one draw as before."""
        return STAGE_FIELDS[:4] + tuple(field for field, values in (("dilation", self.dilations), ("block", self.blocks),
                                                                     ("stride", self.strides)) if len(values) > 1)


@dataclass(frozen=True)
class SearchSpace:
    """A stem and a fixed sequence of stages, each with its own choices."""

    name: str
    stem_widths: tuple[int, ...]
    stages: tuple[StageChoices, ...]
    kind: str = DEFAULT_KIND

    def sample(self, rng: random.Random) -> Genome:
        """A uniformly random genome of this space."""
        while True:
            stages = tuple(self._sample_stage(choices, rng.randint(choices.min_depth, choices.max_depth), rng)
                           for choices in self.stages)
            if any(stage.depth for stage in stages):
                return Genome(rng.choice(self.stem_widths), stages, self.kind)

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        """Change one gene to another allowed value; always returns a different valid genome when one exists.

        A draw takes a position uniformly (the stem or a stage), then a field of it uniformly (depth, width, kernel,
        residual, and dilation and block type where the stage offers a choice; an absent stage redraws its depth
        whatever the field), then a value of that field uniformly, the current one included (residual: a block, then
        its bit). A draw that changes nothing, or that would remove the last present stage, is drawn again, up to
        MUTATION_TRIES times; then the gene is drawn uniformly among those that have another allowed value, and
        its new value among those values."""
        self.validate(genome)
        # The repeated draws are those of the operator that made the committed runs (results/), which reproduce
        # with them; the fallback finds the few genes that can change where such draws almost always miss them.
        for _ in range(MUTATION_TRIES):
            drawn = self._draw_mutation(genome, rng)
            if drawn is not None:
                return self._set_gene(genome, *drawn, rng)
        genes = [(gene, values) for gene in self._genes(genome) if (values := self._alternatives(genome, gene))]
        if not genes:
            return genome  # the space has a single member
        gene, values = rng.choice(genes)
        return self._set_gene(genome, gene, rng.choice(values), rng)

    def crossover(self, first: Genome, second: Genome, rng: random.Random) -> Genome:
        """Uniform crossover at stage level: the stem and each stage come whole from either parent."""
        self.validate(first)
        self.validate(second)
        stem = rng.choice((first.stem_width, second.stem_width))
        stages = tuple(rng.choice(pair) for pair in zip(first.stages, second.stages))
        if not any(stage.depth for stage in stages):
            return first
        return Genome(stem, stages, self.kind)

    def validate(self, genome: Genome) -> None:
        """Raise GenomeError naming the first gene that this space does not allow."""
        if genome.kind != self.kind:
            raise GenomeError(f"a {genome.kind} genome does not belong to space '{self.name}', whose kind is {self.kind}")
        if genome.stem_width not in self.stem_widths:
            raise GenomeError(f"stem_width {genome.stem_width} is not in space '{self.name}' ({list(self.stem_widths)})")
        if len(genome.stages) != len(self.stages):
            raise GenomeError(f"space '{self.name}' has {len(self.stages)} stages, the genome {len(genome.stages)}")
        for index, (stage, choices) in enumerate(zip(genome.stages, self.stages)):
            if not choices.min_depth <= stage.depth <= choices.max_depth:
                raise GenomeError(f"stage {index} depth {stage.depth} is outside [{choices.min_depth}, {choices.max_depth}]")
            if stage.depth == 0:
                continue
            for field, allowed in (("width", choices.widths), ("kernel", choices.kernels),
                                   ("dilation", choices.dilations), ("block", choices.blocks),
                                   ("stride", choices.strides)):
                if getattr(stage, field) not in allowed:
                    raise GenomeError(f"stage {index} {field} {getattr(stage, field)} is not one of {list(allowed)}")
            if any(bit not in choices.residual for bit in stage.residual):
                raise GenomeError(f"stage {index} residual bits must be among {list(choices.residual)}")

    @property
    def size(self) -> int:
        """The number of distinct genomes, as a rough guide to how large a budget makes sense."""
        total = len(self.stem_widths)
        for choices in self.stages:
            options = 0
            for depth in range(choices.min_depth, choices.max_depth + 1):
                options += 1 if depth == 0 else (len(choices.widths) * len(choices.kernels) * len(choices.dilations)
                                                 * len(choices.blocks) * len(choices.strides)
                                                 * len(choices.residual) ** depth)
            total *= options
        return total

    @staticmethod
    def _sample_stage(choices: StageChoices, depth: int, rng: random.Random) -> StageGene:
        if depth == 0:
            return StageGene(0, 0, 0, 1, ())
        width, kernel = rng.choice(choices.widths), rng.choice(choices.kernels)
        residual = tuple(rng.choice(choices.residual) for _ in range(depth))
        # The dilation, the block and the stride are drawn last, and only where there is a choice: spaces without one
        # sample as before.
        dilation, block, stride = (rng.choice(values) if len(values) > 1 else values[0]
                                   for values in (choices.dilations, choices.blocks, choices.strides))
        return StageGene(depth, width, kernel, stride, residual, dilation, block)

    def _draw_mutation(self, genome: Genome, rng: random.Random) -> tuple[tuple[int | None, str], Any] | None:
        """One position-first draw of `mutate`: the gene and its new value (for the residual gene, the block whose
        bit flips), or None when the draw changes nothing or would leave no stage present. Decided from the drawn
        values alone, before any genome is built: the search pays for a mutation with each retry for an unseen
        genome."""
        index = rng.randrange(len(self.stages) + 1)
        if index == len(self.stages):
            width = rng.choice(self.stem_widths)
            return None if width == genome.stem_width else ((None, "stem"), width)
        stage, choices = genome.stages[index], self.stages[index]
        field = rng.choice(choices.fields())
        if field == "depth" or stage.depth == 0:
            depth = rng.randint(choices.min_depth, choices.max_depth)
            if depth == stage.depth or not (depth or self._another_present(genome, index)):
                return None
            return (index, "depth"), depth
        if field == "residual":
            block, bit = rng.randrange(stage.depth), rng.choice(choices.residual)
            return None if bit == stage.residual[block] else ((index, "residual"), block)
        value = rng.choice(_values(choices, field))
        return None if value == getattr(stage, field) else ((index, field), value)

    @staticmethod
    def _another_present(genome: Genome, index: int) -> bool:
        """Whether a stage other than `index` is present, so that stage `index` may go to depth 0."""
        return any(other.depth for position, other in enumerate(genome.stages) if position != index)

    @staticmethod
    def _genes(genome: Genome) -> list[tuple[int | None, str]]:
        """(stage index, field) of every gene of the genome, the stem without an index; an absent stage has only
        its depth."""
        return [(None, "stem")] + [(index, field) for index, stage in enumerate(genome.stages)
                                   for field in (STAGE_FIELDS if stage.depth else ("depth",))]

    def _alternatives(self, genome: Genome, gene: tuple[int | None, str]) -> list[Any]:
        """The values a gene may change to; for the residual gene, the blocks whose bit may flip."""
        index, field = gene
        if field == "stem":
            return [width for width in self.stem_widths if width != genome.stem_width]
        stage, choices = genome.stages[index], self.stages[index]
        if field == "depth":
            # A stage may go to depth 0 only while another stage keeps the network non-empty.
            others = self._another_present(genome, index)
            return [depth for depth in range(choices.min_depth, choices.max_depth + 1)
                    if depth != stage.depth and (depth > 0 or others)]
        if field == "residual":
            return list(range(stage.depth)) if len(choices.residual) > 1 else []
        return [value for value in _values(choices, field) if value != getattr(stage, field)]

    def _set_gene(self, genome: Genome, gene: tuple[int | None, str], value: Any, rng: random.Random) -> Genome:
        # Built directly, not by dataclasses.replace: every retry for an unseen genome pays for this.
        index, field = gene
        if field == "stem":
            return Genome(value, genome.stages, genome.kind)
        stage, choices = genome.stages[index], self.stages[index]
        depth, width, kernel, residual, dilation, block, stride = (stage.depth, stage.width, stage.kernel,
                                                                   stage.residual, stage.dilation, stage.block,
                                                                   stage.stride)
        if field == "depth" and (value == 0 or depth == 0):
            new_stage = self._sample_stage(choices, value, rng)
        else:
            if field == "depth":
                # Grow or shrink at the end, keeping the blocks the stage already has.
                extra = tuple(rng.choice(choices.residual) for _ in range(value - depth))
                depth, residual = value, (residual + extra)[:value]
            elif field == "residual":
                # Flip: the space offers both bits, or the drawn bit differed, or this gene would not be drawn.
                residual = residual[:value] + (not residual[value],) + residual[value + 1:]
            elif field == "width":
                width = value
            elif field == "kernel":
                kernel = value
            elif field == "dilation":
                dilation = value
            elif field == "block":
                block = value
            else:
                stride = value
            new_stage = StageGene(depth, width, kernel, stride, residual, dilation, block)
        return Genome(genome.stem_width, genome.stages[:index] + (new_stage,) + genome.stages[index + 1:], genome.kind)


def _values(choices: StageChoices, field: str) -> tuple[Any, ...]:
    """The values a stage's width, kernel, dilation, block or stride may take."""
    return {"width": choices.widths, "kernel": choices.kernels, "dilation": choices.dilations,
            "block": choices.blocks, "stride": choices.strides}[field]


def _int_list(value: Any, where: str, *, odd: bool = False, zero: bool = False) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           and (v > 0 or zero and v == 0) for v in value):
        raise ConfigError(f"{where} must be a non-empty list of {'integers >= 0' if zero else 'positive integers'}")
    if odd and any(v % 2 == 0 for v in value):
        raise ConfigError(f"{where} must hold odd kernel sizes")
    return tuple(sorted(set(value)))


def _parse_stage(raw: Any, where: str) -> StageChoices:
    known = {"depth", "widths", "kernels", "dilations", "residual", "stride", "blocks"}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping with keys {sorted(known)}")
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where} has unknown key '{sorted(unknown)[0]}' (allowed: {sorted(known)})")
    missing = {"depth", "widths", "kernels"} - set(raw)
    if missing:
        raise ConfigError(f"{where} is missing key '{sorted(missing)[0]}'")
    depth = raw["depth"]
    if (not isinstance(depth, list) or len(depth) != 2 or not all(isinstance(d, int) and not isinstance(d, bool) for d in depth)
            or not 0 <= depth[0] <= depth[1]):
        raise ConfigError(f"{where}.depth must be [min, max] with 0 <= min <= max")
    residual = raw.get("residual", [True, False])
    if not isinstance(residual, list) or not residual or not all(isinstance(bit, bool) for bit in residual):
        raise ConfigError(f"{where}.residual must be a non-empty list of true/false")
    # One stride for every network, or a list of them for the search to choose from.
    strides = raw.get("stride", 1)
    strides = strides if isinstance(strides, list) else [strides]
    if not strides or not all(isinstance(s, int) and not isinstance(s, bool) and s in (1, 2) for s in strides):
        raise ConfigError(f"{where}.stride must be 1 or 2, or a list of them such as [1, 2]")
    blocks = raw.get("blocks", [DEFAULT_BLOCK])
    if not isinstance(blocks, list) or not blocks or not all(isinstance(block, str) for block in blocks):
        raise ConfigError(f"{where}.blocks must be a non-empty list of block types, e.g. {list(BLOCK_TYPES)}")
    unknown_blocks = [block for block in blocks if block not in BLOCK_TYPES]
    if unknown_blocks:
        raise ConfigError(f"{where}.blocks: unknown block type '{unknown_blocks[0]}': use one of {list(BLOCK_TYPES)}")
    widths = _int_list(raw["widths"], f"{where}.widths")
    if "inception" in blocks and any(width % 4 for width in widths):
        raise ConfigError(f"{where}.widths must be multiples of 4 where the stage offers inception blocks (four "
                          f"branches of equal width)")
    return StageChoices(depth[0], depth[1], widths, _int_list(raw["kernels"], f"{where}.kernels", odd=True),
                        tuple(sorted(set(residual))), _int_list(raw.get("dilations", [1]), f"{where}.dilations"),
                        tuple(block for block in BLOCK_TYPES if block in blocks), tuple(sorted(set(strides))))


def parse_space(raw: Any, name: str) -> SearchSpace:
    """Validate a search space given as parsed YAML; errors name the offending key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"search space '{name}' must be a YAML mapping with keys 'stem' and 'stages'")
    unknown = set(raw) - {"name", "description", "kind", "stem", "stages"}
    if unknown:
        raise ConfigError(f"search space '{name}' has unknown key '{sorted(unknown)[0]}'")
    stem = raw.get("stem")
    if not isinstance(stem, dict) or set(stem) != {"widths"}:
        raise ConfigError(f"search space '{name}': 'stem' must be a mapping with the single key 'widths'")
    stages = raw.get("stages")
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"search space '{name}': 'stages' must be a non-empty list")
    parsed = tuple(_parse_stage(stage, f"stages[{index}]") for index, stage in enumerate(stages))
    if all(stage.max_depth == 0 for stage in parsed):
        raise ConfigError(f"search space '{name}': at least one stage needs a maximum depth >= 1")
    kind = raw.get("kind", DEFAULT_KIND)
    if kind not in KINDS:
        raise ConfigError(f"search space '{name}' has unknown kind '{kind}': use one of {sorted(KINDS)}")
    # A stem width of 0 builds no stem: the first block reads the input, as in FCN, ResNet-1D and InceptionTime.
    return SearchSpace(str(raw.get("name", name)), _int_list(stem["widths"], "stem.widths", zero=True), parsed, kind)


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load and validate a search space by name (`default`, `tiny`) or path."""
    path = resolve_yaml(name_or_path, SPACES_DIR, "search space")
    return parse_space(read_yaml(path, "search space"), path.stem)
