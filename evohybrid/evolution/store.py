"""The run directory: resolved config, append-only evaluation log, algorithm state. Plain JSON, no pickle."""

from __future__ import annotations

import datetime
import json
import os
import warnings
from pathlib import Path
from typing import Any

from ..errors import RunDirError

CONFIG_FILE = "config.json"
EVALUATIONS_FILE = "evaluations.jsonl"
STATE_FILE = "state.json"


def write_json_atomic(path: Path, data: Any, *, compact: bool = False, sync_folder: bool = True) -> None:
    """Replace `path` with `data` as JSON (indented for a reader, or `compact`), on disk when this returns; with
    `sync_folder` the replacement itself survives a power loss too."""
    # One string from json.dumps: json.dump streams through the pure-Python encoder, many times slower.
    text = json.dumps(data, sort_keys=True, **({"separators": (",", ":")} if compact else {"indent": 2})) + "\n"
    # Write-then-rename, so a crash leaves either the old file or the new one, never half of one.
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if not sync_folder:
        return
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record of an evaluation log; a truncated or corrupt line is skipped with a warning."""
    records = []
    if not path.exists():
        return records
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                warnings.warn(f"{path}: skipping incomplete line {number} (a crash mid-write)", stacklevel=2)
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def append_jsonl(path: Path, *records: dict[str, Any]) -> None:
    """Append one JSON line per record; they are on disk (one fsync for all: a group commit) when this returns."""
    line = "".join(json.dumps(record, sort_keys=True, allow_nan=False) + "\n" for record in records)
    with open(path, "a+b") as handle:
        # A crash mid-write can leave a line without its newline: start ours on a fresh line.
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode())
        handle.flush()
        os.fsync(handle.fileno())


class KeptRows:
    """The rows of a JSON-lines file by their key (the values of `fields`): the finished jobs of a resumable
    measurement, each kept as it finishes, so that a job whose row is here is not run again."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path, self.fields = path, fields
        self.rows = {self._key(row): row for row in read_records(path)}

    def _key(self, row: dict[str, Any]) -> tuple:
        return tuple(row[field] for field in self.fields)

    def __contains__(self, key: tuple) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def keep(self, row: dict[str, Any]) -> None:
        """Append the row (on disk when this returns) and index it by its key."""
        append_jsonl(self.path, row)
        self.rows[self._key(row)] = row


class RunStore:
    """One run directory. `create` refuses to touch an existing run; `open` refuses a folder that is not one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @staticmethod
    def check_new(path: str | Path) -> None:
        """Raise unless `path` is free for a new run (absent or an empty folder)."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RunDirError(f"'{path}' already exists: pass --resume {path} to continue it, or choose another --out")

    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> "RunStore":
        path = Path(path)
        cls.check_new(path)
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path)
        (path / EVALUATIONS_FILE).touch()  # first, so that the config's folder sync makes both names durable
        write_json_atomic(path / CONFIG_FILE, config)
        return store

    @classmethod
    def open(cls, path: str | Path) -> "RunStore":
        path = Path(path)
        if not path.is_dir():
            raise RunDirError(f"'{path}' does not exist: pass a run directory written by 'evohybrid search'")
        if not (path / CONFIG_FILE).is_file() or not (path / EVALUATIONS_FILE).is_file():
            raise RunDirError(f"'{path}' is not a run directory (no {CONFIG_FILE} and {EVALUATIONS_FILE})")
        return cls(path)

    def read_config(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / CONFIG_FILE).read_text())
        except json.JSONDecodeError:
            raise RunDirError(f"'{self.path / CONFIG_FILE}' is not valid JSON: restore it from a backup") from None

    def write_config(self, config: dict[str, Any]) -> None:
        write_json_atomic(self.path / CONFIG_FILE, config)

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.path / EVALUATIONS_FILE)

    def wall_s(self) -> float | None:
        """Seconds from the run's creation to its last finished evaluation (None before the first): for a run
        that was never stopped, the time its search took, its executor's start included."""
        finished = [record["finished_at"] for record in self.records() if "finished_at" in record]
        if not finished:
            return None
        created = datetime.datetime.fromisoformat(self.read_config()["created"])  # local time, as written
        return max(finished) - created.timestamp()

    def append(self, *records: dict[str, Any]) -> None:
        """Append finished evaluations; they are on disk (fsynced) when this returns."""
        append_jsonl(self.path / EVALUATIONS_FILE, *records)

    def read_state(self) -> dict[str, Any] | None:
        path = self.path / STATE_FILE
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            raise RunDirError(f"'{path}' is not valid JSON: delete it to replay the run from {EVALUATIONS_FILE}") from None

    def write_state(self, state: dict[str, Any]) -> None:
        """Checkpoint the algorithm's state (after every batch of finished evaluations): compact, and without the
        folder sync, since a rename lost to a power loss leaves the previous state, from which resume replays the
        log to the same place."""
        write_json_atomic(self.path / STATE_FILE, state, compact=True, sync_folder=False)
