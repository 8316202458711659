"""Genome: an immutable, validated description of one network, with a canonical JSON form and a stable hash.

A genome says what to build, not in how many dimensions: its `kind` names the registered family (`kinds.py`:
`conv2d` for images, `conv1d` for series) whose builder turns it into a network. The JSON form leaves out what is
at its default (kind `conv2d`, dilation 1), so every genome written before kinds existed keeps its form and hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import GenomeError


DEFAULT_KIND = "conv2d"
# What one block of a stage is (`builder.py` builds each): `basic` conv-BN-ReLU-conv-BN as in ResNet-18; `plain` one
# conv-BN-ReLU, a layer of FCN (Wang et al. 2017); `resnet` three convolutions of k, k-2 and k-4 taps, a block of their
# ResNet; `inception` a residual block of InceptionTime (Fawaz et al. 2020): three inception modules.
BLOCK_TYPES = ("basic", "plain", "resnet", "inception")
DEFAULT_BLOCK = "basic"


@dataclass(frozen=True)
class StageGene:
    """One stage: `depth` blocks of type `block` (BLOCK_TYPES) with `width` channels and convolutions of `kernel` taps
    per dimension, spaced `dilation` apart.

    `stride` 2 halves the resolution in the stage's first block; `residual[i]` says whether
    block i has a shortcut. A stage of depth 0 is absent, so its other fields are normalised away.
    """

    depth: int
    width: int
    kernel: int
    stride: int
    residual: tuple[bool, ...]
    dilation: int = 1
    block: str = DEFAULT_BLOCK

    def __post_init__(self) -> None:
        for name in ("depth", "width", "kernel", "stride", "dilation"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise GenomeError(f"stage field '{name}' must be an integer, got {value!r}")
        if self.depth < 0:
            raise GenomeError(f"stage depth must be >= 0, got {self.depth}")
        if self.depth == 0:
            # An absent stage builds nothing: normalise it so every empty stage hashes equal.
            for name, empty in (("width", 0), ("kernel", 0), ("stride", 1), ("residual", ()), ("dilation", 1),
                                ("block", DEFAULT_BLOCK)):
                object.__setattr__(self, name, empty)
            return
        if self.width < 1:
            raise GenomeError(f"stage width must be >= 1, got {self.width}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise GenomeError(f"stage kernel must be a positive odd integer, got {self.kernel}")
        if self.stride not in (1, 2):
            raise GenomeError(f"stage stride must be 1 or 2, got {self.stride}")
        if self.dilation < 1:
            raise GenomeError(f"stage dilation must be >= 1, got {self.dilation}")
        if self.block not in BLOCK_TYPES:
            raise GenomeError(f"unknown block type {self.block!r}: use one of {list(BLOCK_TYPES)}")
        if self.block == "inception" and self.width % 4:
            raise GenomeError(f"an inception stage's width must be a multiple of 4 (its four branches), got {self.width}")
        if not isinstance(self.residual, (tuple, list)):
            raise GenomeError(f"stage 'residual' must be a list of {self.depth} booleans, got {self.residual!r}")
        residual = tuple(self.residual)
        if len(residual) != self.depth or not all(isinstance(bit, bool) for bit in residual):
            raise GenomeError(f"stage 'residual' must hold {self.depth} booleans, got {list(self.residual)!r}")
        object.__setattr__(self, "residual", residual)

    def to_dict(self) -> dict[str, Any]:
        gene = {"depth": self.depth, "width": self.width, "kernel": self.kernel, "stride": self.stride,
                "residual": list(self.residual)}
        if self.dilation != 1:
            gene["dilation"] = self.dilation
        if self.block != DEFAULT_BLOCK:
            gene["block"] = self.block
        return gene

    @functools.cached_property  # a mutated genome shares all stages but one with its parent, and their forms
    def _canonical_json(self) -> str:
        """`to_dict` as JSON with sorted keys and no spaces, written out by hand (see `Genome.canonical_json`)."""
        block = "" if self.block == DEFAULT_BLOCK else f'"block":{json.dumps(self.block)},'
        dilation = "" if self.dilation == 1 else f'"dilation":{int(self.dilation)},'
        residual = ",".join("true" if bit else "false" for bit in self.residual)
        return (f'{{{block}"depth":{int(self.depth)},{dilation}"kernel":{int(self.kernel)},"residual":[{residual}],'
                f'"stride":{int(self.stride)},"width":{int(self.width)}}}')


@dataclass(frozen=True)
class Genome:
    """A stem convolution of `stem_width` channels (0: none, the first block reads the input) followed by `stages`,
    then global pooling and a linear head, in the family `kind`."""

    stem_width: int
    stages: tuple[StageGene, ...]
    kind: str = DEFAULT_KIND

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise GenomeError(f"genome kind must be a name such as '{DEFAULT_KIND}', got {self.kind!r}")
        if isinstance(self.stem_width, bool) or not isinstance(self.stem_width, int) or self.stem_width < 0:
            raise GenomeError(f"stem_width must be an integer >= 0 (0: no stem), got {self.stem_width!r}")
        stages = tuple(self.stages)
        if not stages or not all(isinstance(stage, StageGene) for stage in stages):
            raise GenomeError("a genome needs at least one stage")
        if all(stage.depth == 0 for stage in stages):
            raise GenomeError("a genome needs at least one stage of depth >= 1")
        object.__setattr__(self, "stages", stages)

    def to_dict(self) -> dict[str, Any]:
        return self._with_kind({"stem_width": self.stem_width, "stages": [stage.to_dict() for stage in self.stages]})

    def _with_kind(self, form: dict[str, Any]) -> dict[str, Any]:
        return form if self.kind == DEFAULT_KIND else {"kind": self.kind, **form}

    def to_json(self) -> str:
        """The full form, sorted keys and no spaces: `Genome.from_json` gives back an equal genome."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def canonical_json(self) -> str:
        """The network's identity: absent stages build nothing wherever they stand, so they are left out. The JSON of
        `to_dict` less the absent stages, sorted keys and no spaces, written out by hand: every proposal, and every
        retry for an unseen one, needs its hash, and json.dumps costs three times as much."""
        kind = "" if self.kind == DEFAULT_KIND else f'"kind":{json.dumps(self.kind)},'
        stages = ",".join(stage._canonical_json for stage in self.stages if stage.depth > 0)
        return f'{{{kind}"stages":[{stages}],"stem_width":{int(self.stem_width)}}}'

    @functools.cached_property  # computed once: the search loop reads it several times per evaluation
    def hash(self) -> str:
        """Stable across processes and machines; equal for genomes that build the same network."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    @property
    def depth(self) -> int:
        return sum(stage.depth for stage in self.stages)

    def describe(self) -> str:
        """A short architecture string, e.g. `s16|2x32k3r11|1x64k5/2r0`; `d4` marks a dilation of 4, a letter after
        the depth a block other than basic (`p`lain, `r`esnet, `i`nception: `2xi128k39r11`), and a leading `conv1d:` a
        kind other than conv2d."""
        parts = [f"s{self.stem_width}"]
        for stage in self.stages:
            if stage.depth:
                stride = "/2" if stage.stride == 2 else ""
                dilation = f"d{stage.dilation}" if stage.dilation != 1 else ""
                bits = "".join("1" if bit else "0" for bit in stage.residual)
                block = "" if stage.block == DEFAULT_BLOCK else stage.block[0]
                parts.append(f"{stage.depth}x{block}{stage.width}k{stage.kernel}{dilation}{stride}r{bits}")
        return ("" if self.kind == DEFAULT_KIND else f"{self.kind}:") + "|".join(parts)

    @classmethod
    def from_dict(cls, data: Any) -> "Genome":
        """Build a genome from its JSON form, with a GenomeError naming what is wrong."""
        if not isinstance(data, dict) or not {"stem_width", "stages"} <= set(data) <= {"kind", "stem_width", "stages"}:
            raise GenomeError("a genome is a JSON object with the keys 'stem_width' and 'stages' (and 'kind')")
        if not isinstance(data["stages"], list):
            raise GenomeError("genome 'stages' must be a list")
        stages = []
        for index, stage in enumerate(data["stages"]):
            keys = {"depth", "width", "kernel", "stride", "residual"}
            if not isinstance(stage, dict) or not set(stage) <= keys | {"dilation", "block"} or "depth" not in stage:
                raise GenomeError(f"genome stage {index} must be an object with keys {sorted(keys)}")
            if not isinstance(stage["depth"], int) or isinstance(stage["depth"], bool):
                raise GenomeError(f"genome stage {index} 'depth' must be an integer, got {stage['depth']!r}")
            if stage["depth"] == 0:
                stages.append(StageGene(0, 0, 0, 1, ()))
                continue
            if not keys <= set(stage):
                raise GenomeError(f"genome stage {index} is missing {sorted(keys - set(stage))}")
            residual = stage["residual"]
            if not isinstance(residual, list):
                raise GenomeError(f"genome stage {index} 'residual' must be a list of booleans")
            stages.append(StageGene(stage["depth"], stage["width"], stage["kernel"], stage["stride"], tuple(residual),
                                    stage.get("dilation", 1), stage.get("block", DEFAULT_BLOCK)))
        return cls(data["stem_width"], tuple(stages), data.get("kind", DEFAULT_KIND))

    @classmethod
    def from_json(cls, text: str) -> "Genome":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise GenomeError(f"genome is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
        return cls.from_dict(data)
