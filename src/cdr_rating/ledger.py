"""The ledger: an SQLite database (WAL) that is the source of truth of the data directory.

It records what has been ingested (by content hash), which Parquet files hold it, each
run, the billing periods and whether they are closed, and, for invoicing, invoices,
their lines, credit and debit notes and number sequences. Every change is one
transaction: a run's files, partitions, totals and run row commit together or not at
all.

Tables (schema version 1; amounts are exact decimal text, times ISO 8601 UTC)::

    schema_version  version                          one row: the schema in this file
    runs            run_id PK, started_at, finished_at, status (ok | failed),
                    exit_status, files_new, files_skipped, read, rated, rejected,
                    duplicates, manifest (path in data_dir), error
    ingested_files  sha256 PK, path (in the inbox, as first seen), size, mtime_ns,
                    run_id -> runs, rows, rated, rejected, ingested_at
    partition_files path PK (in data_dir), sha256 -> ingested_files, kind (rated |
                    rejects), period (YYYY-MM | unknown), rows
    file_totals     (sha256, period, currency) PK, calls, billable_s, charge
    periods         period PK, status (open | closed), closed_at, closed_by -> runs
    sequences       name PK (e.g. INV-2026), last_value: gap-free numbering
    invoices        invoice_id PK, number (unique; null while a draft), kind (invoice |
                    credit_note | debit_note), account, period, status (draft | final |
                    void), currency, subtotal, tax, total, issued_on, due_on, pdf,
                    created_at
    invoice_lines   (invoice_id, line_no) PK, kind, description, quantity, unit, amount,
                    tax_rate
    notes           invoice_id PK -> invoices (the note), corrects -> invoices (the
                    original invoice), reason

Version 2 adds to ``invoices``: document (JSON of what it shows), calls (Parquet of its
itemised calls, in data_dir), html, finalised_at, voided_at, void_reason, sheets (JSON:
sheet files and sha256 it was billed with); to ``invoice_lines``: detail, calls,
seconds; and the table ``rerates`` (rerate_id PK, period, account, reason, applied_at,
sheets_before, sheets_after (JSON: paths and sha256), calls_changed, manifest).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from decimal import Decimal
from pathlib import Path

from cdr_rating.errors import CdrRatingError
from cdr_rating.store import checkpoint

SCHEMA_VERSION = 2

_SCHEMA_V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    exit_status   INTEGER NOT NULL,
    files_new     INTEGER NOT NULL,
    files_skipped INTEGER NOT NULL,
    read          INTEGER NOT NULL,
    rated         INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    manifest      TEXT NOT NULL,
    error         TEXT
);

CREATE TABLE ingested_files (
    sha256      TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    run_id      TEXT NOT NULL REFERENCES runs (run_id),
    rows        INTEGER NOT NULL,
    rated       INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);

CREATE TABLE partition_files (
    path   TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL REFERENCES ingested_files (sha256),
    kind   TEXT NOT NULL CHECK (kind IN ('rated', 'rejects')),
    period TEXT NOT NULL,
    rows   INTEGER NOT NULL
);
CREATE INDEX partition_files_by_period ON partition_files (kind, period);

CREATE TABLE file_totals (
    sha256     TEXT NOT NULL REFERENCES ingested_files (sha256),
    period     TEXT NOT NULL,
    currency   TEXT NOT NULL,
    calls      INTEGER NOT NULL,
    billable_s INTEGER NOT NULL,
    charge     TEXT NOT NULL,
    PRIMARY KEY (sha256, period, currency)
);

CREATE TABLE periods (
    period    TEXT PRIMARY KEY,
    status    TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at TEXT,
    closed_by TEXT REFERENCES runs (run_id)
);

CREATE TABLE sequences (
    name       TEXT PRIMARY KEY,
    last_value INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE invoices (
    invoice_id INTEGER PRIMARY KEY,
    number     TEXT UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'debit_note')),
    account    TEXT NOT NULL,
    period     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('draft', 'final', 'void')),
    currency   TEXT NOT NULL,
    subtotal   TEXT NOT NULL,
    tax        TEXT NOT NULL,
    total      TEXT NOT NULL,
    issued_on  TEXT,
    due_on     TEXT,
    pdf        TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE invoice_lines (
    invoice_id  INTEGER NOT NULL REFERENCES invoices (invoice_id),
    line_no     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    quantity    TEXT,
    unit        TEXT,
    amount      TEXT NOT NULL,
    tax_rate    TEXT,
    PRIMARY KEY (invoice_id, line_no)
);

CREATE TABLE notes (
    invoice_id INTEGER PRIMARY KEY REFERENCES invoices (invoice_id),
    corrects   INTEGER NOT NULL REFERENCES invoices (invoice_id),
    reason     TEXT NOT NULL
);
"""

# Version 2: what invoicing needs to reproduce and audit an invoice.
_SCHEMA_V2 = """
ALTER TABLE invoices ADD COLUMN document TEXT;
ALTER TABLE invoices ADD COLUMN calls TEXT;
ALTER TABLE invoices ADD COLUMN html TEXT;
ALTER TABLE invoices ADD COLUMN finalised_at TEXT;
ALTER TABLE invoices ADD COLUMN voided_at TEXT;
ALTER TABLE invoices ADD COLUMN void_reason TEXT;
ALTER TABLE invoices ADD COLUMN sheets TEXT;
ALTER TABLE invoice_lines ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE invoice_lines ADD COLUMN calls INTEGER;
ALTER TABLE invoice_lines ADD COLUMN seconds INTEGER;
CREATE INDEX invoices_by_period ON invoices (period, account, status);

CREATE TABLE rerates (
    rerate_id     TEXT PRIMARY KEY,
    period        TEXT NOT NULL,
    account       TEXT,
    reason        TEXT NOT NULL,
    applied_at    TEXT NOT NULL,
    sheets_before TEXT NOT NULL,
    sheets_after  TEXT NOT NULL,
    calls_changed INTEGER NOT NULL,
    manifest      TEXT NOT NULL
);
"""

# Migration k (0-based) brings a database from version k to version k + 1.
_MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1, _SCHEMA_V2)


class LedgerError(CdrRatingError):
    """The ledger cannot be opened or is newer than this version of cdr-rating."""


@dataclass(frozen=True)
class IngestedFile:
    sha256: str
    path: str
    size: int
    mtime_ns: int
    run_id: str
    rows: int
    rated: int
    rejected: int
    ingested_at: str


@dataclass(frozen=True)
class PartitionFile:
    path: str
    sha256: str
    kind: str
    period: str
    rows: int


@dataclass(frozen=True)
class FileTotal:
    sha256: str
    period: str
    currency: str
    calls: int
    billable_s: int
    charge: Decimal


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started_at: str
    finished_at: str
    status: str
    exit_status: int
    files_new: int
    files_skipped: int
    read: int
    rated: int
    rejected: int
    duplicates: int
    manifest: str
    error: str | None = None


@dataclass(frozen=True)
class PeriodTotal:
    """Rated calls stored for one period in one currency."""

    calls: int
    billable_s: int
    charge: Decimal


class Ledger:
    """A connection to the ledger; use :meth:`open` (or :meth:`snapshot` for dry runs)."""

    def __init__(self, connection: sqlite3.Connection, temporary: Path | None = None) -> None:
        self.connection = connection
        self._temporary = temporary

    @classmethod
    def open(cls, path: Path) -> Ledger:
        """Open (creating and migrating if needed) the ledger at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise LedgerError(f"{path}: cannot open the ledger: {exc}") from exc
        ledger = cls(connection)
        ledger.migrate(path)
        return ledger

    @classmethod
    def snapshot(cls, path: Path) -> Ledger:
        """A private copy of the ledger at ``path`` (empty if there is none).

        Dry runs read this copy so that not even SQLite's own files in the data
        directory change.
        """
        temporary = Path(tempfile.mkdtemp(prefix="cdr-rating-ledger-"))
        copy = temporary / path.name
        for suffix in ("", "-wal"):
            source = path.with_name(path.name + suffix)
            if source.is_file():
                shutil.copyfile(source, copy.with_name(copy.name + suffix))
        ledger = cls.open(copy)
        ledger._temporary = temporary
        return ledger

    def close(self) -> None:
        self.connection.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` on any exception."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    @property
    def version(self) -> int:
        exists = self.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if exists is None:
            return 0
        row = self.connection.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def migrate(self, path: Path) -> None:
        """Bring the schema to ``SCHEMA_VERSION``, one transaction per step."""
        current = self.version
        if current > SCHEMA_VERSION:
            raise LedgerError(
                f"{path}: ledger schema version {current} is newer than this cdr-rating "
                f"understands ({SCHEMA_VERSION}); upgrade cdr-rating"
            )
        for version in range(current, SCHEMA_VERSION):
            with self.transaction() as connection:
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute("DELETE FROM schema_version")
                connection.execute("INSERT INTO schema_version VALUES (?)", (version + 1,))

    def ingested_files(self) -> dict[str, IngestedFile]:
        """Every ingested input file, by sha256."""
        rows = self.connection.execute(
            "SELECT sha256, path, size, mtime_ns, run_id, rows, rated, rejected, ingested_at "
            "FROM ingested_files ORDER BY sha256"
        )
        return {row[0]: IngestedFile(*row) for row in rows}

    def partition_files(
        self, kind: str | None = None, periods: Sequence[str] | None = None
    ) -> list[PartitionFile]:
        """The Parquet files of the store, optionally of one kind and some periods."""
        query = "SELECT path, sha256, kind, period, rows FROM partition_files"
        conditions, parameters = [], []
        if kind is not None:
            conditions.append("kind = ?")
            parameters.append(kind)
        if periods is not None:
            conditions.append(f"period IN ({', '.join('?' * len(periods))})")
            parameters += periods
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        rows = self.connection.execute(query + " ORDER BY path", parameters)
        return [PartitionFile(*row) for row in rows]

    def run_ids(self) -> set[str]:
        return {row[0] for row in self.connection.execute("SELECT run_id FROM runs")}

    def closed_periods(self) -> set[str]:
        rows = self.connection.execute("SELECT period FROM periods WHERE status = 'closed'")
        return {row[0] for row in rows}

    def file_totals(self) -> list[FileTotal]:
        rows = self.connection.execute(
            "SELECT sha256, period, currency, calls, billable_s, charge FROM file_totals "
            "ORDER BY sha256, period, currency"
        )
        return [
            FileTotal(sha256, period, currency, calls, billable_s, Decimal(charge))
            for sha256, period, currency, calls, billable_s, charge in rows
        ]

    def period_totals(self) -> dict[tuple[str, str], PeriodTotal]:
        """Stored rated calls per ``(period, currency)``, summed exactly."""
        totals: dict[tuple[str, str], PeriodTotal] = {}
        for total in self.file_totals():
            key = (total.period, total.currency)
            before = totals.get(key, PeriodTotal(0, 0, Decimal(0)))
            totals[key] = PeriodTotal(
                before.calls + total.calls,
                before.billable_s + total.billable_s,
                before.charge + total.charge,
            )
        return dict(sorted(totals.items()))

    def mark_run_failed(self, run_id: str, exit_status: int, error: str) -> None:
        """A recorded run failed in a later step (closing the period)."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE runs SET status = 'failed', exit_status = ?, error = ? WHERE run_id = ?",
                (exit_status, error, run_id),
            )

    def record_run(
        self,
        run: RunRecord,
        files: Sequence[IngestedFile] = (),
        partitions: Sequence[PartitionFile] = (),
        totals: Sequence[FileTotal] = (),
        close: str | None = None,
    ) -> None:
        """Record a run and everything it ingested in one transaction.

        Periods that received calls are added as open; ``close`` marks a period closed.
        """
        with self.transaction() as connection:
            connection.execute(f"INSERT INTO runs VALUES ({', '.join('?' * 13)})", astuple(run))
            connection.executemany(
                f"INSERT INTO ingested_files VALUES ({', '.join('?' * 9)})",
                [astuple(file) for file in files],
            )
            connection.executemany(
                "INSERT INTO partition_files VALUES (?, ?, ?, ?, ?)",
                [astuple(partition) for partition in partitions],
            )
            connection.executemany(
                "INSERT INTO file_totals VALUES (?, ?, ?, ?, ?, ?)",
                [(*astuple(total)[:5], str(total.charge)) for total in totals],
            )
            connection.executemany(
                "INSERT OR IGNORE INTO periods (period, status) VALUES (?, 'open')",
                sorted({(p.period,) for p in partitions if p.kind == "rated"}),
            )
            if close is not None:
                connection.execute(
                    "INSERT INTO periods (period, status, closed_at, closed_by) "
                    "VALUES (?, 'closed', ?, ?) ON CONFLICT (period) DO UPDATE SET "
                    "status = 'closed', closed_at = excluded.closed_at, "
                    "closed_by = excluded.closed_by WHERE status = 'open'",
                    (close, run.finished_at, run.run_id),
                )
            checkpoint("ledger-in-transaction")
