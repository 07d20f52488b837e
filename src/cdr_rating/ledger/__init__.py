"""The ledger: an SQLite database (WAL), the source of truth of the data directory, and
the only code that touches SQLite.

It records what has been ingested (by content hash), which Parquet files hold it, each
run, the billing periods and whether they are closed, and, for invoicing, invoices,
their lines, credit and debit notes, re-ratings and number sequences. Every change is
one transaction. The tables and their migrations are in ``ledger.schema``; queries
live beside the data they serve (``ledger.invoices``, ``ledger.rerates``). No other
package sees the connection.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from decimal import Decimal
from pathlib import Path

from cdr_rating.errors import CdrRatingError, ExitCode
from cdr_rating.faults import checkpoint
from cdr_rating.ledger.schema import MIGRATIONS, MIGRATIONS_LOGGED_FROM, SCHEMA_VERSION
from cdr_rating.permissions import FILE_MODE, make_directories

PARTITION_INSERT = "INSERT INTO partition_files VALUES (?, ?, ?, ?, ?, ?, ?)"


class LedgerError(CdrRatingError):
    """The ledger cannot be opened or written, or is newer than this version of cdr-rating."""


class LedgerUnavailableError(LedgerError):
    """The ledger is missing, empty (holds no schema) or unreadable: exit 3, like any
    input that cannot be read."""

    exit_code = ExitCode.INPUT


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
    """A store file: ``sha256`` is its input file's, ``checksum`` its own (and
    ``index_checksum`` its call index's); ``None`` while not recorded (before schema 4)."""

    path: str
    sha256: str
    kind: str
    period: str
    rows: int
    checksum: str | None = None
    index_checksum: str | None = None


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

    def __init__(
        self, connection: sqlite3.Connection, path: Path, temporary: Path | None = None
    ) -> None:
        self._connection = connection
        self._path = path
        self._temporary = temporary

    @classmethod
    def open(cls, path: Path, *, create: bool = True, shown: Path | None = None) -> Ledger:
        """Open (and migrate if needed) the ledger at ``path``.

        With ``create`` a missing or empty ledger is created; without, it is a
        :class:`LedgerUnavailableError`, as is a file SQLite cannot read. Messages name
        ``shown`` (default ``path``).
        """
        shown = shown or path
        if not create and not path.is_file():
            raise LedgerUnavailableError(f"{shown}: the ledger is missing")
        wal = path.with_name(path.name + "-wal")
        if not create and path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size):
            raise LedgerUnavailableError(f"{shown}: the ledger is empty (0 bytes)")
        make_directories(path.parent)
        created = not path.exists()
        try:
            connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            if created:  # before WAL: SQLite gives its -wal and -shm files the same mode
                path.chmod(FILE_MODE)
        except sqlite3.Error as exc:
            raise LedgerUnavailableError(f"{shown}: cannot open the ledger: {exc}") from exc
        ledger = cls(connection, shown)
        try:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")
                connection.execute("PRAGMA foreign_keys = ON")
                empty = ledger.version == 0
            except sqlite3.DatabaseError as exc:
                raise LedgerUnavailableError(f"{shown}: cannot read the ledger: {exc}") from exc
            if empty and not create:
                raise LedgerUnavailableError(f"{shown}: the ledger holds no tables")
            ledger.migrate(shown)
        except BaseException:
            connection.close()
            raise
        return ledger

    @classmethod
    def snapshot(cls, path: Path, *, create: bool = True) -> Ledger:
        """A private copy of the ledger at ``path`` (with ``create``, empty if there is
        none; see :meth:`open`).

        Dry runs read this copy so that not even SQLite's own files in the data
        directory change. The copy is removed on :meth:`close`, or at once if it cannot
        be opened.
        """
        temporary = Path(tempfile.mkdtemp(prefix="cdr-rating-ledger-"))
        try:
            copy = temporary / path.name
            for suffix in ("", "-wal"):
                source = path.with_name(path.name + suffix)
                if source.is_file():
                    shutil.copyfile(source, copy.with_name(copy.name + suffix))
            ledger = cls.open(copy, create=create, shown=path)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        ledger._temporary = temporary
        return ledger

    def close(self) -> None:
        self._connection.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` on any exception."""
        try:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # a full disk, a read-only file
            raise LedgerError(
                f"{self._path}: cannot write the ledger: {exc}; nothing of this step was "
                "recorded (free space or fix permissions, then run again)"
            ) from exc

    @property
    def version(self) -> int:
        exists = self._connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if exists is None:
            return 0
        row = self._connection.execute("SELECT version FROM schema_version").fetchone()
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
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute("DELETE FROM schema_version")
                connection.execute("INSERT INTO schema_version VALUES (?)", (version + 1,))
                if version + 1 >= MIGRATIONS_LOGGED_FROM:
                    connection.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)", (version + 1, _now())
                    )
                checkpoint("migration-in-transaction")

    def ingested_files(self) -> dict[str, IngestedFile]:
        """Every ingested input file, by sha256."""
        rows = self._connection.execute(
            "SELECT sha256, path, size, mtime_ns, run_id, rows, rated, rejected, ingested_at "
            "FROM ingested_files ORDER BY sha256"
        )
        return {row[0]: IngestedFile(*row) for row in rows}

    def partition_files(
        self, kind: str | None = None, periods: Sequence[str] | None = None
    ) -> list[PartitionFile]:
        """The Parquet files of the store, optionally of one kind and some periods."""
        query = (
            "SELECT path, sha256, kind, period, rows, checksum, index_checksum FROM partition_files"
        )
        conditions, parameters = [], []
        if kind is not None:
            conditions.append("kind = ?")
            parameters.append(kind)
        if periods is not None:
            conditions.append(f"period IN ({', '.join('?' * len(periods))})")
            parameters += periods
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        rows = self._connection.execute(query + " ORDER BY path", parameters)
        return [PartitionFile(*row) for row in rows]

    def run_ids(self) -> set[str]:
        return {row[0] for row in self._connection.execute("SELECT run_id FROM runs")}

    def closed_periods(self) -> set[str]:
        rows = self._connection.execute("SELECT period FROM periods WHERE status = 'closed'")
        return {row[0] for row in rows}

    def file_totals(self) -> list[FileTotal]:
        rows = self._connection.execute(
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
                PARTITION_INSERT, [astuple(partition) for partition in partitions]
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

    def backup_to(self, target: Path) -> None:
        """Copy the ledger to the new file ``target`` with SQLite's online backup, which
        gives a consistent copy whatever else reads the ledger meanwhile."""
        destination = sqlite3.connect(target)
        try:
            self._connection.backup(destination)
        except sqlite3.Error as exc:
            raise LedgerError(f"{target}: cannot back up the ledger there: {exc}") from exc
        finally:
            destination.close()

    def integrity_problems(self) -> list[str]:
        """What ``PRAGMA integrity_check`` finds wrong with the database file (nothing:
        an empty list)."""
        rows = [str(row[0]) for row in self._connection.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def migrations(self) -> list[tuple[int, str]]:
        """``(version, applied_at)`` of each migration logged (from version 3 on)."""
        rows = self._connection.execute(
            "SELECT version, applied_at FROM schema_migrations ORDER BY version"
        )
        return [(int(version), str(applied_at)) for version, applied_at in rows]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
