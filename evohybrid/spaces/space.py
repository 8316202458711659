"""Search spaces: which genomes exist, declared as data in `search_spaces/*.yaml`, and the pure
variation operators `(genome, rng) -> genome` that move between them. A space names its kind (`kind: conv2d`, the
default, or `conv1d`): every genome it makes is of that kind."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, GenomeError
from ..yaml_files import read_yaml, resolve_yaml, shipped_folder
from .genome import DEFAULT_KIND, Genome, StageGene
from .kinds import KINDS

SPACES_DIR = shipped_folder("evohybrid.search_spaces")


@dataclass(frozen=True)
class StageChoices:
    """What one stage may be: a depth range (inclusive), width, kernel, dilation and residual-bit choices, a fixed
    stride."""

    min_depth: int
    max_depth: int
    widths: tuple[int, ...]
    kernels: tuple[int, ...]
    residual: tuple[bool, ...]
    stride: int
    dilations: tuple[int, ...] = (1,)


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
        """Change one gene to another allowed value; always returns a different valid genome when one exists."""
        self.validate(genome)
        # Only genes with another allowed value take part, so no draw lands on a gene that cannot change.
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
                                   ("dilation", choices.dilations)):
                if getattr(stage, field) not in allowed:
                    raise GenomeError(f"stage {index} {field} {getattr(stage, field)} is not one of {list(allowed)}")
            if stage.stride != choices.stride:
                raise GenomeError(f"stage {index} stride must be {choices.stride}")
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
                                                 * len(choices.residual) ** depth)
            total *= options
        return total

    @staticmethod
    def _sample_stage(choices: StageChoices, depth: int, rng: random.Random) -> StageGene:
        if depth == 0:
            return StageGene(0, 0, 0, 1, ())
        # The dilation is drawn last, and only where there is a choice: spaces without one sample as before.
        stage = StageGene(depth, rng.choice(choices.widths), rng.choice(choices.kernels), choices.stride,
                          tuple(rng.choice(choices.residual) for _ in range(depth)))
        return replace(stage, dilation=rng.choice(choices.dilations)) if len(choices.dilations) > 1 else stage

    @staticmethod
    def _genes(genome: Genome) -> list[tuple[int | None, str]]:
        """(stage index, field) of every gene of the genome, the stem without an index; an absent stage has only
        its depth."""
        fields = ("depth", "width", "kernel", "residual", "dilation")
        return [(None, "stem")] + [(index, field) for index, stage in enumerate(genome.stages)
                                   for field in (fields if stage.depth else ("depth",))]

    def _alternatives(self, genome: Genome, gene: tuple[int | None, str]) -> list[Any]:
        """The values a gene may change to; for the residual gene, the blocks whose bit may flip."""
        index, field = gene
        if field == "stem":
            return [width for width in self.stem_widths if width != genome.stem_width]
        stage, choices = genome.stages[index], self.stages[index]
        if field == "depth":
            # A stage may go to depth 0 only while another stage keeps the network non-empty.
            others = any(other.depth for position, other in enumerate(genome.stages) if position != index)
            return [depth for depth in range(choices.min_depth, choices.max_depth + 1)
                    if depth != stage.depth and (depth > 0 or others)]
        if field == "residual":
            return list(range(stage.depth)) if len(choices.residual) > 1 else []
        values = {"width": choices.widths, "kernel": choices.kernels, "dilation": choices.dilations}[field]
        return [value for value in values if value != getattr(stage, field)]

    def _set_gene(self, genome: Genome, gene: tuple[int | None, str], value: Any, rng: random.Random) -> Genome:
        index, field = gene
        if field == "stem":
            return replace(genome, stem_width=value)
        stage, choices = genome.stages[index], self.stages[index]
        if field == "depth" and (value == 0 or stage.depth == 0):
            new_stage = self._sample_stage(choices, value, rng)
        elif field == "depth":
            # Grow or shrink at the end, keeping the blocks the stage already has.
            extra = tuple(rng.choice(choices.residual) for _ in range(value - stage.depth))
            new_stage = replace(stage, depth=value, residual=(stage.residual + extra)[:value])
        elif field == "residual":
            bits = list(stage.residual)
            bits[value] = not bits[value]  # the space offers both bits, or this gene would not take part
            new_stage = replace(stage, residual=tuple(bits))
        else:
            new_stage = replace(stage, **{field: value})
        return replace(genome, stages=genome.stages[:index] + (new_stage,) + genome.stages[index + 1:])


def _int_list(value: Any, where: str, *, odd: bool = False) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ConfigError(f"{where} must be a non-empty list of positive integers")
    if odd and any(v % 2 == 0 for v in value):
        raise ConfigError(f"{where} must hold odd kernel sizes")
    return tuple(sorted(set(value)))


def _parse_stage(raw: Any, where: str) -> StageChoices:
    known = {"depth", "widths", "kernels", "dilations", "residual", "stride"}
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
    stride = raw.get("stride", 1)
    if not isinstance(stride, int) or isinstance(stride, bool) or stride not in (1, 2):
        raise ConfigError(f"{where}.stride must be 1 or 2")
    return StageChoices(depth[0], depth[1], _int_list(raw["widths"], f"{where}.widths"),
                        _int_list(raw["kernels"], f"{where}.kernels", odd=True), tuple(sorted(set(residual))), stride,
                        _int_list(raw.get("dilations", [1]), f"{where}.dilations"))


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
    return SearchSpace(str(raw.get("name", name)), _int_list(stem["widths"], "stem.widths"), parsed, kind)


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load and validate a search space by name (`default`, `tiny`) or path."""
    path = resolve_yaml(name_or_path, SPACES_DIR, "search space")
    return parse_space(read_yaml(path, "search space"), path.stem)
