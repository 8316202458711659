"""Kinds of search space: what a genome's `kind` builds and which data it reads. A kind is a registry entry; the
builder, the FLOP counter and the data checks all read it, so a new kind of convolutional space is one entry here.
(No torch here: the search spaces and algorithms that read the names never touch it.)"""

from __future__ import annotations

from dataclasses import dataclass

from ..dataset_names import dataset_holds
from ..errors import ConfigError, GenomeError
from .genome import Genome


@dataclass(frozen=True)
class Kind:
    """A family of networks: convolutions and BatchNorm over `dims` dimensions (torch's Conv<dims>d and
    BatchNorm<dims>d), reading `data` of shape (N, C, *spatial)."""

    name: str
    dims: int
    data: str  # what its data sets hold: "images" (N, C, H, W) or "series" (N, C, L)


KINDS = {"conv2d": Kind("conv2d", 2, "images"), "conv1d": Kind("conv1d", 1, "series")}
DATA_KINDS = {kind.data: name for name, kind in KINDS.items()}  # which kind of space reads each kind of data


def kind_of(genome: Genome) -> Kind:
    if genome.kind not in KINDS:
        raise GenomeError(f"unknown genome kind '{genome.kind}': use one of {sorted(KINDS)}")
    return KINDS[genome.kind]


def check_space_data(space_name: str, space_kind: str, dataset: str) -> None:
    """A one-line error, before anything runs, when a space's networks cannot read the data set."""
    holds, reads = dataset_holds(dataset), KINDS[space_kind].data
    if holds != reads:
        raise ConfigError(f"search space '{space_name}' is of kind {space_kind}, which reads {reads}, but {dataset} "
                          f"holds {holds}: use a space of kind {DATA_KINDS[holds]} (--space "
                          f"{'conv1d' if holds == 'series' else 'default'}) or another --dataset")


def check_input(genome: Genome, input_shape: tuple[int, ...]) -> None:
    """A one-line error when the genome's kind cannot read inputs of `input_shape` (channels, *spatial)."""
    kind = kind_of(genome)
    if len(input_shape) != kind.dims + 1:
        holds = "images" if len(input_shape) == 3 else "series" if len(input_shape) == 2 else f"{input_shape} inputs"
        raise GenomeError(f"a {kind.name} genome reads {kind.data}, but the data set holds {holds}: use a "
                          f"search space of kind {DATA_KINDS.get(holds, 'that matches the data')}")
