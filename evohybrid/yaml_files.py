"""Shipped-or-user YAML files: resolve a name or a path, parse with a one-line error on bad YAML."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


def shipped_folder(package: str) -> Path:
    """The folder of a data-only package shipped with evohybrid (`evohybrid.search_spaces`, `evohybrid.configs`):
    the top-level `search_spaces/` and `configs/` of a checkout, or their copies inside an installed wheel."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"evohybrid's {package.rsplit('.', 1)[-1]} are missing: reinstall evohybrid")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_yaml(name_or_path: str | Path, folder: Path, what: str) -> Path:
    """`name` means `folder/name.yaml`; anything ending in .yaml/.yml or existing on disk is a path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{what} file '{path}' does not exist")
        return path
    shipped = folder / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise ConfigError(f"unknown {what} '{name_or_path}': use one of {shipped_names(folder)} or a path to a .yaml file")
    return shipped


def shipped_names(folder: Path) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.yaml"))


def read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{what} '{path}' is not valid YAML{where}: fix the file") from None
