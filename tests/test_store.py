"""The data directory: atomic writes, layout, billing periods, orphans, the lock."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.errors import ExitCode, InputError, LockHeldError
from cdr_rating.periods import period_of
from cdr_rating.store import (
    INDEX_SCHEME,
    DataDir,
    RunLock,
    call_hash,
    call_index_hits,
    clear_journal,
    journals,
    remove_orphans,
    write_atomically,
    write_call_index,
    write_frame,
    write_journal,
    write_json,
)

SHA = "0123456789abcdef" + "0" * 48


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "calls.parquet"
    write_frame(pl.DataFrame({"a": [1]}), target)

    def half_then_fail(path: Path) -> None:
        path.write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_then_fail)

    assert pl.read_parquet(target).to_dict(as_series=False) == {"a": [1]}
    assert sorted(p.name for p in target.parent.iterdir()) == ["calls.parquet"]


def test_the_temporary_file_is_hidden_beside_the_target(tmp_path: Path) -> None:
    seen: list[Path] = []

    def remember(path: Path) -> None:
        seen.append(path)
        path.write_text("{}")

    write_atomically(tmp_path / "m.json", remember)

    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith(".m.json.")
    assert seen[0].name.endswith(".tmp")
    write_json({"b": 1}, tmp_path / "m.json")
    assert (tmp_path / "m.json").read_text() == '{\n  "b": 1\n}\n'


@pytest.mark.parametrize(
    ("instant", "period"),
    [
        (datetime(2026, 9, 30, 21, 59, 59), "2026-09"),  # 23:59:59 CEST
        (datetime(2026, 9, 30, 22, 0, 0), "2026-10"),  # midnight CEST
        (datetime(2026, 10, 31, 22, 59, 59), "2026-10"),  # 23:59:59 CET
        (datetime(2026, 10, 31, 23, 0, 0), "2026-11"),
        (None, "unknown"),
    ],
)
def test_the_period_is_the_month_in_the_billing_timezone(
    instant: datetime | None, period: str
) -> None:
    around = [datetime(2026, 6, 1), instant, datetime(2027, 2, 3)]
    starts = pl.Series("start", around, dtype=pl.Datetime("us", "UTC"))

    periods = period_of(starts, "Europe/Berlin")

    assert periods.to_list() == ["2026-06", period, "2027-02"]
    formatted = starts.dt.convert_time_zone("Europe/Berlin").dt.strftime("%Y-%m")
    assert periods.to_list() == formatted.fill_null("unknown").to_list()
    assert period_of(starts.slice(1, 1), "Europe/Berlin").to_list() == [period]


def test_partitions_are_named_after_the_input_file(tmp_path: Path) -> None:
    data = DataDir(tmp_path)

    rated = data.partition("rated", "2026-10", SHA)
    unknown = data.partition("rejects", "unknown", SHA)

    assert data.relative(rated) == "rated/period=2026-10/0123456789abcdef.parquet"
    assert data.relative(unknown) == "rejects/unknown/0123456789abcdef.parquet"
    index = f"index/{INDEX_SCHEME}/period=2026-10/0123456789abcdef.parquet"
    assert data.relative(data.index_of(rated)) == index


def test_orphans_are_the_journaled_files_the_ledger_did_not_commit(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    calls = pl.DataFrame({"call_id": ["a", "b"]})
    kept = data.partition("rated", "2026-10", SHA)
    orphan = data.partition("rated", "2026-10", "f" * 64)
    stranger = data.partition("rated", "2026-10", "d" * 64)
    for path in (kept, orphan, stranger):
        write_frame(calls, path)
        write_call_index(calls, data, path)
    write_frame(calls, data.partition("rejects", "unknown", "e" * 64))
    (kept.parent / ".x.parquet.123.tmp").write_bytes(b"partial")
    old_index = tmp_path / "index" / "polars-0.0.1" / "period=2026-10" / "x.parquet"
    old_index.parent.mkdir(parents=True)
    old_index.write_bytes(b"old")
    for run in ("run-kept", "run-lost", "run-unknown"):
        write_json({}, data.manifest(run))
    recorded = {data.relative(kept)}
    journaled = [
        data.relative(path)
        for path in (kept, orphan, data.partition("rejects", "unknown", "e" * 64))
    ] + ["manifests/run-kept.json", "manifests/run-lost.json", "rated/../../../etc/passwd"]
    expected = [
        "index/polars-0.0.1",
        f"index/{INDEX_SCHEME}/period=2026-10/ffffffffffffffff.parquet",
        "manifests/run-lost.json",
        "rated/period=2026-10/.x.parquet.123.tmp",
        "rated/period=2026-10/ffffffffffffffff.parquet",
        "rejects/unknown/eeeeeeeeeeeeeeee.parquet",
    ]

    assert remove_orphans(data, recorded, {"run-kept"}, journaled, dry_run=True) == expected
    assert orphan.exists()
    assert remove_orphans(data, recorded, {"run-kept"}, journaled) == expected
    # What no journal names stays, whether the ledger lists it or not.
    assert [data.relative(p) for p in data.stored_partitions()] == [
        data.relative(kept),
        data.relative(stranger),
    ]
    assert data.index_of(stranger).exists()
    assert sorted(p.name for p in data.manifests.iterdir()) == ["run-kept.json", "run-unknown.json"]
    assert remove_orphans(data, recorded, {"run-kept"}, journaled) == []


def test_a_journal_survives_until_cleared_and_lists_its_entries(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    write_journal(data, "run", "r1", ["manifests/r1.json"])
    journal = write_journal(data, "run", "r1", ["manifests/r1.json", "rated/x.parquet"])
    write_journal(data, "void", "INV-1", ["INV-1"])

    assert journals(data, "run") == [journal]
    assert journal.entries == ("manifests/r1.json", "rated/x.parquet")
    clear_journal(journal)
    assert journals(data, "run") == []
    assert [j.entries for j in journals(data, "void")] == [("INV-1",)]
    (data.journals / "run-bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match=r"run-bad.json: journal of an interrupted run"):
        journals(data, "run")


def test_a_missing_call_index_is_rebuilt(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    partition = data.partition("rated", "2026-10", SHA)
    write_frame(pl.DataFrame({"call_id": ["a", "b"]}), partition)

    wanted = pl.DataFrame({"call_id": ["b", "c"]}).select(call_hash(pl.col("call_id")))
    hashes = wanted.get_column("call_hash")

    dry = call_index_hits(data, [partition], hashes, repair=False)
    assert not data.index_of(partition).exists()
    repaired = call_index_hits(data, [partition], hashes)
    again = call_index_hits(data, [partition], hashes)

    assert data.index_of(partition).exists()
    assert dry.equals(repaired)
    assert again.equals(repaired)
    assert repaired.to_dicts() == [{"call_hash": hashes[0], "partition": data.relative(partition)}]


def test_a_second_lock_holder_is_told_who_holds_it(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(LockHeldError) as caught:
            RunLock(tmp_path).acquire()
        with pytest.raises(LockHeldError):
            RunLock(tmp_path, shared=True).acquire()

    message = str(caught.value)
    assert message.startswith(f"another run (pid {os.getpid()}, started ")
    assert message.endswith(f") holds the lock on {tmp_path}; try again later")
    assert caught.value.exit_code == ExitCode.LOCKED
    with RunLock(tmp_path):  # released: free again
        pass


def test_a_shared_lock_creates_nothing(tmp_path: Path) -> None:
    with RunLock(tmp_path / "var", shared=True):
        pass
    assert not (tmp_path / "var").exists()


def test_a_spill_folder_left_by_a_killed_rerate_is_an_orphan(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    spill = tmp_path / ".spill-k1ll3d"
    spill.mkdir()
    (spill / "rated-0000.parquet").write_bytes(b"rows of a slice")
    assert remove_orphans(data, set(), set(), []) == [".spill-k1ll3d"]
    assert not spill.exists()
