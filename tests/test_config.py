"""Configuration files: every shipped config loads, and every mistake is a ConfigError naming its key."""

from __future__ import annotations

import pytest
import yaml

import evohybrid
from evohybrid.config import ALGORITHM_NAMES, CONFIGS_DIR, Config, config_from_dict
from evohybrid.errors import ConfigError
from evohybrid.evolution.algorithms import ALGORITHMS

CONFIG_NAMES = sorted(path.stem for path in CONFIGS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_shipped_configs_load_and_round_trip(name):
    config = evohybrid.load_config(name)
    assert evohybrid.load_config(CONFIGS_DIR / f"{name}.yaml") == config
    assert config_from_dict(config.to_dict()) == config
    assert config_from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config
    evohybrid.load_space(config.space)  # names a shipped space


def test_smoke_config_is_small():
    config = evohybrid.load_config("smoke")
    assert config.space == "tiny"
    assert config.search.budget <= 12 and config.fitness.steps <= 10


def test_the_config_offers_exactly_the_registered_algorithms():
    assert sorted(ALGORITHM_NAMES) == sorted(ALGORITHMS)
    for name in ALGORITHMS:
        assert config_from_dict({"search": {"algorithm": name}}).search.algorithm == name


def test_empty_config_is_the_defaults():
    assert config_from_dict({}) == config_from_dict(None) == Config()


@pytest.mark.parametrize("raw, key", [
    ({"seeed": 1}, "seeed"),
    ({"fitness": {"stepz": 3}}, "fitness.stepz"),
    ({"data": {"dataset": "mnist", "colour": 1}}, "data.colour"),
    ({"fitness": {"steps": "many"}}, "fitness.steps"),
    ({"fitness": {"steps": 2.5}}, "fitness.steps"),
    ({"fitness": {"steps": True}}, "fitness.steps"),
    ({"fitness": {"steps": 0}}, "fitness.steps"),
    ({"fitness": {"lr": -0.1}}, "fitness.lr"),
    ({"fitness": {"lr": None}}, "fitness.lr"),
    ({"fitness": {"optimizer": "lbfgs"}}, "fitness.optimizer"),
    ({"fitness": {"trainable": "conv"}}, "fitness.trainable"),
    ({"fitness": {"schedule": "step"}}, "fitness.schedule"),
    ({"search": {"algorithm": "cmaes"}}, "search.algorithm"),
    ({"search": {"budget": -1}}, "search.budget"),
    ({"search": {"crossover_prob": 1.5}}, "search.crossover_prob"),
    ({"search": {"population": 3}}, "search.population"),
    ({"data": {"val_size": 0}}, "data.val_size"),
    ({"data": {"resolution": -16}}, "data.resolution"),
    ({"data": {"download": "yes"}}, "data.download"),
    ({"seed": "0"}, "seed"),
    ({"data": {"dataset": "fashion-mnist", "samples": 1000}}, "data.samples"),
    ({"data": {"dataset": "fashion-mnist", "generator_seed": 1}}, "data.generator_seed"),
    ({"data": {"dataset": "mnist1d", "samples": 50}}, "data.samples"),
    ({"data": {"dataset": "mnist1d", "samples": 0}}, "data.samples"),
    ({"fitness": [1, 2]}, "fitness"),
    ([1, 2], "config"),
])
def test_bad_config_names_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(raw)


def test_nullable_fields_accept_null():
    config = config_from_dict({"data": {"train_size": None, "resolution": None}, "fitness": {"threads": None}})
    assert config.data.train_size is None and config.data.resolution is None and config.fitness.threads is None


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config 'nope'"):
        evohybrid.load_config("nope")
    with pytest.raises(ConfigError, match="does not exist"):
        evohybrid.load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("fitness: [steps: 3\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        evohybrid.load_config(tmp_path / "bad.yaml")
    (tmp_path / "key.yaml").write_text("search:\n  budgett: 3\n")
    with pytest.raises(ConfigError, match=r"search\.budgett"):
        evohybrid.load_config(tmp_path / "key.yaml")


def test_override_validates_and_keeps_the_original():
    config = evohybrid.load_config("smoke")
    changed = config.override("fitness", steps=3, lr=None)
    assert changed.fitness.steps == 3 and changed.fitness.lr == config.fitness.lr
    assert config.fitness.steps != 3  # frozen original untouched
    assert config.override("search") is config
    assert config.override(None, seed=5).seed == 5
    with pytest.raises(ConfigError, match=r"fitness\.steps"):
        config.override("fitness", steps=0)
    with pytest.raises(ConfigError, match=r"search\.colour"):
        config.override("search", colour="red")
