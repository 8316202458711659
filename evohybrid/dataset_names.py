"""The registered data sets as names and facts, known without loading one (and without torch): what the config
schema, the CLI's help and the reports need."""

from __future__ import annotations

# The UCR/UEA sets that ship inside aeon (so they need no download), with their classes: univariate, multivariate
# (BasicMotions) and of unequal length (JapaneseVowels, PickupGestureWiimoteZ: zero-padded). UnitTest is aeon's
# 42-series excerpt of Chinatown.
UCR_CLASSES = {"ACSF1": 10, "ArrowHead": 3, "BasicMotions": 4, "GunPoint": 2, "ItalyPowerDemand": 2,
               "JapaneseVowels": 9, "OSULeaf": 6, "PickupGestureWiimoteZ": 10, "UnitTest": 2}
UCR_SETS = tuple(UCR_CLASSES)
# The classes of each registered data set: its loader's and its chance level's one source, read without loading it.
NUM_CLASSES = {"fashion-mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100, "synthetic-cifar10": 10,
               "mnist1d": 10, **{f"ucr:{name}": classes for name, classes in UCR_CLASSES.items()}}
# Sets made by a generator rather than read from files: their size and generator seed are settings (data.samples,
# data.generator_seed), with these defaults (MNIST-1D: the paper's 4,000 training and 1,000 test series).
GENERATED_DEFAULTS = {"mnist1d": {"samples": 5000, "generator_seed": 42}}
DATASET_NAMES = tuple(NUM_CLASSES)  # the registry's order, which `data.DATASETS` follows


def dataset_holds(name: str) -> str:
    """What a registered data set holds, known without loading it: "series" (the UCR sets, MNIST-1D) or "images"."""
    return "series" if name.startswith("ucr:") or name in GENERATED_DEFAULTS else "images"  # generated: series


def unknown_dataset(name: str) -> str:
    """The one-line error for a data set name that is not registered: the UCR sets listed apart."""
    if name.startswith("ucr:"):
        return f"unknown UCR set '{name[4:]}': the bundled ones are {', '.join(UCR_SETS)} (as ucr:<name>)"
    images = sorted(set(DATASET_NAMES) - {f"ucr:{ucr}" for ucr in UCR_SETS})
    return f"unknown data set '{name}': use one of {images}, or ucr:<name> for a bundled UCR set"
