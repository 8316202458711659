"""The studies' ground truth: every weight trained with the promotion recipe, under several seeds, measured on a
large validation slice held out of the training split (never the test split). The truth is the seeds' mean, and
the agreement between two seeds is the noise ceiling above which no signal can be judged."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..config import Config
from ..errors import ConfigError
from ..spaces.genome import Genome
from ..training.trainer import Training, TrainingData, training_data


@dataclass(frozen=True)
class TruthSettings:
    epochs: int = 2
    lr: float = 0.1
    seeds: int = 2  # independent trainings per architecture (weights and batch order); the truth is their mean
    val_size: int = 10_000  # validation images held out of the training split by the run's seed
    train_size: int | None = None  # None: every other training image
    resolution: int | None = None  # None: the search's resolution

    def check(self, config: Config) -> None:
        """One-line errors for settings that cannot give a truth for this config."""
        if self.seeds < 1:
            raise ConfigError(f"--truth-seeds must be at least 1, got {self.seeds}")
        if self.epochs < 1:
            raise ConfigError(f"--truth-epochs must be at least 1, got {self.epochs}")
        if self.val_size < config.data.val_size:
            raise ConfigError(f"--truth-val-size {self.val_size} is smaller than the search's validation slice "
                              f"({config.data.val_size}): raise it, so the truth never trains on the search's "
                              "validation images")

    def recipe(self) -> dict[str, Any]:
        """What fixes the truth's values; the number of seeds may grow without changing any of them."""
        return {key: value for key, value in asdict(self).items() if key != "seeds"}


def truth_data(config: Config, settings: TruthSettings) -> TrainingData:
    return training_data(config, train_size=settings.train_size, val_size=settings.val_size,
                         resolution=settings.resolution)


def truth_accuracy(genome: Genome, data: TrainingData, settings: TruthSettings, seed_index: int) -> float | None:
    """Validation accuracy after full training under seed `seed_index` (0 is the run's own seed); None when the
    training diverged."""
    training = Training(genome, data, epochs=settings.epochs, lr=settings.lr, seed=data.seed + seed_index)
    try:
        training.run()
    except FloatingPointError:
        return None
    value = training.val_accuracy()
    return value if math.isfinite(value) else None
