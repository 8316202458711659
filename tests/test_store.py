"""The run directory: refuses to clobber, appends durable JSON lines, survives a line cut short by a crash."""

from __future__ import annotations

import json
import math

import pytest

from evohybrid.errors import RunDirError
from evohybrid.evolution.store import CONFIG_FILE, EVALUATIONS_FILE, STATE_FILE, KeptRows, RunStore, read_records

# Keys out of order: config.json sorts them, so two runs' configs compare line by line.
CONFIG = {"versions": {"python": "3"}, "search_space": {"stem": {"widths": [4]}}, "config": {"seed": 0}}


def _records(count: int, start: int = 0) -> list[dict]:
    return [{"id": i, "hash": f"{i:016x}", "status": "ok", "val_acc": i / 10, "params": 100 + i,
             "genome": {"stem_width": 4, "stages": []}, "error": None} for i in range(start, start + count)]


def test_create_writes_a_fresh_run(tmp_path):
    store = RunStore.create(tmp_path / "a" / "run", CONFIG)
    assert store.path == tmp_path / "a" / "run"
    assert (store.path / CONFIG_FILE).read_text() == json.dumps(CONFIG, indent=2, sort_keys=True) + "\n"  # for a reader
    assert store.read_config() == CONFIG
    assert (store.path / EVALUATIONS_FILE).read_bytes() == b""
    assert store.records() == []
    assert store.read_state() is None
    assert sorted(p.name for p in store.path.iterdir()) == [CONFIG_FILE, EVALUATIONS_FILE]


def test_create_accepts_an_existing_empty_directory(tmp_path):
    (tmp_path / "run").mkdir()
    store = RunStore.create(tmp_path / "run", CONFIG)
    assert store.read_config() == CONFIG


@pytest.mark.parametrize("content", ["run", "other"])
def test_create_refuses_a_non_empty_directory_and_leaves_it_untouched(tmp_path, content, folder_listing):
    path = tmp_path / "existing"
    if content == "run":
        RunStore.create(path, CONFIG).append(_records(1)[0])
    else:
        path.mkdir()
        (path / "notes.txt").write_text("keep me\n")
        (path / "sub").mkdir()
        (path / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = folder_listing(path)
    with pytest.raises(RunDirError, match="already exists"):
        RunStore.create(path, {"config": "other"})
    assert folder_listing(path) == before


def test_create_refuses_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(RunDirError):
        RunStore.create(path, CONFIG)
    assert path.read_text() == "x"


def test_open_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        RunStore.open(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError):
        RunStore.open(tmp_path / "file")
    with pytest.raises(RunDirError, match="not a run directory"):
        RunStore.open(tmp_path)
    half = tmp_path / "half"
    half.mkdir()
    (half / CONFIG_FILE).write_text("{}")
    with pytest.raises(RunDirError, match="not a run directory"):
        RunStore.open(half)
    other = tmp_path / "other"
    other.mkdir()
    (other / EVALUATIONS_FILE).write_text("")
    with pytest.raises(RunDirError, match="not a run directory"):
        RunStore.open(other)


def test_open_an_existing_run(tmp_path):
    RunStore.create(tmp_path / "run", CONFIG).append(_records(1)[0])
    store = RunStore.open(tmp_path / "run")
    assert store.read_config() == CONFIG
    assert store.records() == _records(1)


def test_append_and_read_round_trip(tmp_path):
    store = RunStore.create(tmp_path / "run", CONFIG)
    records = _records(5)
    records[2]["error"] = "ValueError: line\nbreak and unicode \u00e9\u2603"
    for record in records:
        store.append(record)
    assert store.records() == records
    assert RunStore.open(store.path).records() == records
    lines = (store.path / EVALUATIONS_FILE).read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 6  # one record a line, newline-terminated
    assert [json.loads(line) for line in lines[:-1]] == records


def test_a_record_is_written_with_its_keys_sorted_whatever_their_order(tmp_path):
    # The same record always gives the same bytes, so logs of the same run compare line by line.
    store = RunStore.create(tmp_path / "run", CONFIG)
    store.append({"status": "ok", "id": 0, "b": [2, 1]}, {"id": 1, "status": "ok", "b": []})
    assert (store.path / EVALUATIONS_FILE).read_text() == (
        '{"b": [2, 1], "id": 0, "status": "ok"}\n{"b": [], "id": 1, "status": "ok"}\n')


def test_append_refuses_non_finite_numbers_and_writes_nothing(tmp_path):
    store = RunStore.create(tmp_path / "run", CONFIG)
    store.append(_records(1)[0])
    before = (store.path / EVALUATIONS_FILE).read_bytes()
    with pytest.raises(ValueError):
        store.append({**_records(1, start=1)[0], "val_acc": math.nan})
    assert (store.path / EVALUATIONS_FILE).read_bytes() == before


def test_truncated_last_line_is_skipped_with_a_warning_and_the_next_append_starts_a_new_line(tmp_path):
    store = RunStore.create(tmp_path / "run", CONFIG)
    records = _records(2)
    for record in records:
        store.append(record)
    log = store.path / EVALUATIONS_FILE
    full_line = json.dumps(_records(1, start=2)[0], sort_keys=True)
    with open(log, "ab") as handle:  # a crash mid-write: half a line, no newline
        handle.write(full_line[: len(full_line) // 2].encode())

    with pytest.warns(UserWarning, match="line 3"):
        assert store.records() == records

    late = _records(1, start=3)[0]
    store.append(late)
    raw_lines = log.read_bytes().split(b"\n")
    assert raw_lines[2] == full_line[: len(full_line) // 2].encode()  # the half line is kept as it was
    assert json.loads(raw_lines[3]) == late  # and ours starts on a fresh line
    with pytest.warns(UserWarning, match="line 3"):
        assert store.records() == records + [late]
    with pytest.warns(UserWarning):
        assert read_records(log) == records + [late]


def test_a_torn_line_of_one_byte_is_skipped_and_the_next_record_kept(tmp_path):
    store = RunStore.create(tmp_path / "run", CONFIG)
    (store.path / EVALUATIONS_FILE).write_bytes(b"{")  # a crash after the first byte of the first record
    store.append(_records(1)[0])
    with pytest.warns(UserWarning, match="skipping incomplete line 1"):
        assert store.records() == _records(1)


def test_a_line_cut_inside_a_multibyte_character_is_skipped(tmp_path):
    store = RunStore.create(tmp_path / "run", CONFIG)
    store.append(_records(1)[0])
    encoded = json.dumps({"id": 1, "error": "\u2603\u2603"}, ensure_ascii=False).encode()
    cut = encoded[: encoded.index("\u2603".encode()) + 1]  # ends in the middle of a UTF-8 sequence
    with open(store.path / EVALUATIONS_FILE, "ab") as handle:
        handle.write(cut)
    with pytest.warns(UserWarning, match="line 2"):
        assert store.records() == _records(1)
    store.append(_records(1, start=2)[0])
    with pytest.warns(UserWarning, match="line 2"):
        assert [r["id"] for r in store.records()] == [0, 2]


def test_blank_lines_are_ignored_silently(tmp_path, recwarn):
    store = RunStore.create(tmp_path / "run", CONFIG)
    store.append(_records(1)[0])
    with open(store.path / EVALUATIONS_FILE, "ab") as handle:
        handle.write(b"\n   \n")
    store.append(_records(1, start=1)[0])
    assert store.records() == _records(2)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_kept_rows_are_found_by_their_key_after_a_reopen_and_a_torn_line_loses_only_its_own_job(tmp_path):
    path = tmp_path / "folds.jsonl"
    kept = KeptRows(path, ("id", "fold"))
    assert len(kept) == 0 and (3, 0) not in kept
    kept.keep({"id": 3, "fold": 0, "val_acc": 0.5})
    kept.keep({"id": 3, "fold": 1, "val_acc": 0.75})
    assert kept.rows[3, 1] == {"id": 3, "fold": 1, "val_acc": 0.75}  # found at once, not only after a reopen
    with open(path, "ab") as handle:  # a stop mid-write of a third job's row
        handle.write(b'{"id": 4, "fo')

    with pytest.warns(UserWarning, match="line 3"):
        again = KeptRows(path, ("id", "fold"))
    assert len(again) == 2 and (3, 0) in again and (3, 1) in again and (4, 0) not in again
    assert again.rows[3, 1] == {"id": 3, "fold": 1, "val_acc": 0.75}
    again.keep({"id": 4, "fold": 0, "val_acc": 1.0})
    with pytest.warns(UserWarning, match="line 3"):
        assert sorted(KeptRows(path, ("id", "fold")).rows) == [(3, 0), (3, 1), (4, 0)]


def test_state_round_trip_and_corruption(tmp_path):
    store = RunStore.create(tmp_path / "run", CONFIG)
    # A failed evaluation's size is infinite: the state keeps it (as JSON's common Infinity extension).
    state = {"algorithm": "random", "next_id": 3, "seen": ["a", "b"], "rng": [3, [1, 2], None],
             "population": [{"objectives": [0.0, math.inf]}]}
    store.write_state(state)
    assert store.read_state() == state
    # Compact: it is rewritten after every batch of evaluations.
    assert (store.path / STATE_FILE).read_text() == json.dumps(state, sort_keys=True, separators=(",", ":")) + "\n"
    store.write_state({**state, "next_id": 4})
    assert store.read_state()["next_id"] == 4
    assert not list(store.path.glob("*.tmp"))  # written by rename, no temporary left
    (store.path / STATE_FILE).write_text('{"algorithm": "ran')
    with pytest.raises(RunDirError, match="state.json"):
        store.read_state()


def test_config_round_trip_and_corruption(tmp_path):
    store = RunStore.create(tmp_path / "run", CONFIG)
    store.write_config({**CONFIG, "extra": 1})
    assert RunStore.open(store.path).read_config() == {**CONFIG, "extra": 1}
    (store.path / CONFIG_FILE).write_text("{")
    with pytest.raises(RunDirError, match="config.json"):
        store.read_config()


def test_a_run_s_wall_time_runs_from_its_creation_to_its_last_finished_evaluation(tmp_path):
    import datetime

    created = datetime.datetime(2026, 1, 2, 3, 4, 5)
    store = RunStore.create(tmp_path / "run", {"created": created.isoformat(timespec="seconds")})
    assert store.wall_s() is None  # nothing finished yet
    start = created.timestamp()
    store.append({"id": 0, "finished_at": start + 30.5}, {"id": 2, "finished_at": start + 90},
                 {"id": 1, "finished_at": start + 61})
    assert store.wall_s() == pytest.approx(90)
