"""The ledger: schema and migrations, WAL, one transaction per run, exact totals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from cdr_rating.ledger import (
    SCHEMA_VERSION,
    FileTotal,
    IngestedFile,
    Ledger,
    LedgerError,
    PartitionFile,
    PeriodTotal,
    RunRecord,
)
from cdr_rating.ledger.checksums import recorded_files
from cdr_rating.ledger.invoices import find_invoice, invoice_lines, list_invoices

TABLES = {
    "schema_version",
    "runs",
    "ingested_files",
    "partition_files",
    "file_totals",
    "periods",
    "sequences",
    "invoices",
    "invoice_lines",
    "notes",
    "rerates",
    "schema_migrations",
}


def run_record(run_id: str, files_new: int = 1) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        started_at="2026-11-01T02:00:00+00:00",
        finished_at="2026-11-01T02:01:00+00:00",
        status="ok",
        exit_status=0,
        files_new=files_new,
        files_skipped=0,
        read=3,
        rated=2,
        rejected=1,
        duplicates=0,
        manifest=f"manifests/{run_id}.json",
    )


def ingested(sha256: str, run_id: str) -> IngestedFile:
    return IngestedFile(sha256, f"{sha256}.csv", 10, 1, run_id, 3, 2, 1, "2026-11-01")


def record(ledger: Ledger, run_id: str, sha256: str, charges: list[str]) -> None:
    ledger.record_run(
        run_record(run_id),
        files=[ingested(sha256, run_id)],
        partitions=[
            PartitionFile(f"rated/period=2026-10/{sha256}.parquet", sha256, "rated", "2026-10", 2)
        ],
        totals=[
            FileTotal(sha256, "2026-10", currency, 1, 60, Decimal(charge))
            for currency, charge in zip(["EUR", "USD"], charges, strict=False)
        ],
    )


def test_a_new_ledger_has_the_schema_in_wal_mode(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        tables = {
            row[0]
            for row in ledger._connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"
            )
        }
        mode = ledger._connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert ledger.version == SCHEMA_VERSION

    assert tables == TABLES
    assert mode == "wal"
    with Ledger.open(tmp_path / "ledger.sqlite") as again:  # opening twice migrates once
        assert again._connection.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_a_newer_ledger_is_refused(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger._connection.execute("UPDATE schema_version SET version = 99")

    with pytest.raises(LedgerError, match="version 99 is newer"):
        Ledger.open(tmp_path / "ledger.sqlite")


def test_a_run_is_recorded_whole_and_totals_add_up_exactly(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        record(ledger, "run-1", "a" * 64, ["0.1", "0.000001"])
        record(ledger, "run-2", "b" * 64, ["0.2"])

        assert set(ledger.ingested_files()) == {"a" * 64, "b" * 64}
        assert ledger.run_ids() == {"run-1", "run-2"}
        assert [p.period for p in ledger.partition_files("rated", ["2026-10"])] == ["2026-10"] * 2
        assert ledger.partition_files("rated", ["2026-11"]) == []
        assert ledger.period_totals() == {
            ("2026-10", "EUR"): PeriodTotal(2, 120, Decimal("0.3")),
            ("2026-10", "USD"): PeriodTotal(1, 60, Decimal("0.000001")),
        }
        periods = ledger._connection.execute("SELECT period, status FROM periods").fetchall()
        assert periods == [("2026-10", "open")]


def test_a_failing_run_records_nothing(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        record(ledger, "run-1", "a" * 64, ["1"])
        with pytest.raises(sqlite3.IntegrityError):
            record(ledger, "run-2", "a" * 64, ["1"])  # the same file again

        assert ledger.run_ids() == {"run-1"}
        assert len(ledger.file_totals()) == 1


def test_closing_a_period_keeps_the_first_close(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.record_run(run_record("run-1", files_new=0), close="2026-09")
        ledger.record_run(run_record("run-2", files_new=0), close="2026-09")

        assert ledger.closed_periods() == {"2026-09"}
        closed_by = ledger._connection.execute("SELECT closed_by FROM periods").fetchall()
        assert closed_by == [("run-1",)]


def test_a_snapshot_is_a_private_copy(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.snapshot(path) as empty:
        assert empty.ingested_files() == {}
    assert not path.exists()

    with Ledger.open(path) as ledger:
        record(ledger, "run-1", "a" * 64, ["1"])
        with Ledger.snapshot(path) as copy:
            assert copy.run_ids() == {"run-1"}
            record(copy, "run-2", "b" * 64, ["1"])
        assert ledger.run_ids() == {"run-1"}


V2_LEDGER = Path(__file__).parent / "fixtures" / "ledgers" / "v2.sqlite"


def test_a_ledger_written_by_schema_2_upgrades_in_place(tmp_path: Path) -> None:
    """The fixture was written by the code of 19f3c96 (schema 2): four invoices, one
    void, and a credit note from an applied re-rating (see its README)."""
    path = tmp_path / "ledger.sqlite"
    shutil.copyfile(V2_LEDGER, path)
    expected = json.loads((V2_LEDGER.parent / "v2-invoice-list.json").read_text("utf-8"))
    note = json.loads((V2_LEDGER.parent / "v2-CN-2026-000001.json").read_text("utf-8"))

    with Ledger.open(path) as ledger:
        assert ledger.version == SCHEMA_VERSION
        assert [version for version, _ in ledger.migrations()] == [3, 4]
        files = recorded_files(ledger)
        records = [record.summary() for record in list_invoices(ledger)]
        shown = find_invoice(ledger, "CN-2026-000001")
        lines = invoice_lines(ledger, shown.invoice_id)
        assert {
            row[0]
            for row in ledger._connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"
            )
        } == TABLES
        rerates = ledger._connection.execute("SELECT period, reason FROM rerates").fetchall()

    assert records == expected
    assert {**shown.summary(), "lines": lines} == note
    assert rerates == [("2026-10", "peak rate corrected")]
    # Version 4: every stored file and document is listed, none has a checksum yet (the
    # first read records it).
    kinds = {file.kind for file in files}
    assert {"rated", "index", "pdf", "html"} <= kinds
    assert all(file.checksum is None for file in files)
    with Ledger.open(path) as again:  # upgraded once: opening again changes nothing
        assert [version for version, _ in again.migrations()] == [3, 4]


def test_an_upgrade_killed_midway_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    shutil.copyfile(V2_LEDGER, path)
    code = (
        "from pathlib import Path; from cdr_rating.ledger import Ledger; "
        f"Ledger.open(Path({str(path)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "CDR_RATING_TEST_KILL_AT": "migration-in-transaction"},
        check=False,
    )
    assert done.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchone() == (2,)
    with Ledger.open(path) as ledger:
        assert ledger.version == SCHEMA_VERSION
        assert len(list_invoices(ledger)) == 5
