"""The ledger as the source of truth: opening it safely, backing it up, restoring and
checking it (``cdr-rating ledger``).

Every command opens the ledger through :func:`open_ledger`. A missing, empty or
unreadable ledger beside a data directory that holds stored files is never replaced
by a new, empty one: the command stops (exit 3), says what it found and how to restore,
and changes nothing. A new ledger would forget every file ingested and every invoice
number issued, and the next run would ingest and number them all again.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cdr_rating.config import Settings
from cdr_rating.errors import InputError, UsageError
from cdr_rating.faults import checkpoint
from cdr_rating.jobs.verify import verify_data_dir
from cdr_rating.ledger import Ledger, LedgerUnavailableError
from cdr_rating.ledger.invoices import document_files, numbering_gaps
from cdr_rating.permissions import make_directories
from cdr_rating.store import DataDir, RunLock, write_atomically
from cdr_rating.store.files import fsync_directory

BACKUP_PATTERN = "ledger-*.sqlite"


def backup_dir(settings: Settings) -> Path:
    """Where the nightly run keeps ledger backups (``[ledger] backup_dir``)."""
    configured = settings.ledger.backup_dir
    return configured if configured is not None else DataDir(settings.paths.data_dir).backups


def open_ledger(settings: Settings, *, private: bool = False) -> Ledger:
    """The ledger of the data directory; with ``private`` a snapshot of it (see
    :meth:`Ledger.snapshot`).

    A missing or empty ledger is created only when the data directory holds no stored
    file.

    Raises:
        LedgerUnavailableError: the ledger is missing, empty or unreadable (exit 3).
    """
    data = DataDir(settings.paths.data_dir)
    evidence = data.first_stored_file()
    try:
        if private:
            return Ledger.snapshot(data.ledger, create=evidence is None)
        return Ledger.open(data.ledger, create=evidence is None)
    except LedgerUnavailableError as exc:
        if evidence is None:
            raise
        raise LedgerUnavailableError(
            f"{exc}, but the data directory holds the books' files ({evidence}, ...); "
            "nothing was changed: restore the ledger from a backup with "
            f"'cdr-rating ledger restore FILE' (the nightly backups are in "
            f"{backup_dir(settings)})"
        ) from exc


def existing_ledger(settings: Settings, *, private: bool = True) -> Ledger:
    """The ledger (by default a snapshot, for a command that only reads it) of a data
    directory where something has been run.

    Raises:
        UsageError: nothing has been run yet (exit 2); LedgerUnavailableError: see
        :func:`open_ledger`.
    """
    data = DataDir(settings.paths.data_dir)
    if not data.ledger.exists() and data.first_stored_file() is None:
        raise UsageError(
            f"{data.ledger}: no ledger yet; run cdr-rating run first (key 'paths.data_dir')"
        )
    return open_ledger(settings, private=private)


def backup_name() -> str:
    """Sortable by time (to the microsecond, so that rotation keeps the newest) and
    unique: ``ledger-20261103T021501.123456Z-<random>.sqlite``."""
    return f"ledger-{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}.sqlite"


def write_backup(ledger: Ledger, folder: Path) -> Path:
    """A consistent copy of ``ledger`` in ``folder`` (SQLite's online backup), written
    under a temporary name, flushed and renamed: a backup under its final name is whole."""
    target = folder / backup_name()
    try:
        make_directories(folder)
        write_atomically(target, ledger.backup_to, point="backup-temporary-written")
    except OSError as exc:
        raise InputError(f"{target}: cannot write the backup: {exc.strerror}") from exc
    return target


def backup(settings: Settings, folder: Path) -> Path:
    """``cdr-rating ledger backup DIR``: back up the ledger into ``folder``."""
    with open_ledger(settings) as ledger:
        return write_backup(ledger, folder)


def rotate_backups(settings: Settings, ledger: Ledger) -> Path | None:
    """The nightly run's backup: a new one, and only the newest ``[ledger] backups``
    kept. None when backups are off (0)."""
    keep = settings.ledger.backups
    if keep == 0:
        return None
    folder = backup_dir(settings)
    made = write_backup(ledger, folder)
    for old in sorted(folder.glob(BACKUP_PATTERN))[:-keep]:
        old.unlink(missing_ok=True)
    fsync_directory(folder)
    return made


def restore(settings: Settings, backup_file: Path) -> list[str]:
    """``cdr-rating ledger restore FILE``: replace the ledger by a checked copy of
    ``backup_file``, under the run lock; return the checks' findings on the restored
    ledger (files it names that are missing, ...), which do not stop the restore.

    The backup itself is never changed: a copy beside the ledger is opened (and
    migrated, if it is older), checked with ``PRAGMA integrity_check``, flushed, and
    renamed over the ledger.

    Raises:
        LockHeldError: a run holds the lock (exit 75); InputError: the backup is
        missing, unreadable or damaged (exit 3).
    """
    data = DataDir(settings.paths.data_dir)
    if not backup_file.is_file():
        raise InputError(f"{backup_file}: backup not found")
    make_directories(data.root)
    with RunLock(data.root):
        copy = data.root / f".{data.ledger.name}.restore.tmp"
        try:
            shutil.copyfile(backup_file, copy)
            with Ledger.open(copy, create=False, shown=backup_file) as restored:
                damage = restored.integrity_problems()
                if damage:
                    raise InputError(
                        f"{backup_file}: the backup is damaged ({damage[0]}); the ledger was "
                        "not replaced: restore an older backup"
                    )
            for leftover in _sqlite_files(copy):
                leftover.unlink(missing_ok=True)
            with copy.open("rb+") as handle:
                os.fsync(handle.fileno())
            checkpoint("restore-checked")
            # The old ledger's WAL belongs to the old file: never replay it into this one.
            for stale in _sqlite_files(data.ledger):
                stale.unlink(missing_ok=True)
            copy.replace(data.ledger)
            fsync_directory(data.root)
        finally:
            for leftover in (copy, *_sqlite_files(copy)):
                leftover.unlink(missing_ok=True)
        with Ledger.open(data.ledger, create=False) as ledger:
            return [finding for check in CHECKS[1:] for finding in check(ledger, data)]


def _sqlite_files(database: Path) -> list[Path]:
    """SQLite's own files beside ``database`` (its WAL and shared memory)."""
    return [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]


@dataclass(frozen=True)
class CheckReport:
    problems: list[str]
    summary: str


# One check: the ledger and data directory in, one line per problem found out.
Check = Callable[[Ledger, DataDir], list[str]]


def database_intact(ledger: Ledger, data: DataDir) -> list[str]:
    """SQLite's own check of the database file."""
    return [f"{data.ledger}: integrity_check: {found}" for found in ledger.integrity_problems()]


def partitions_present(ledger: Ledger, data: DataDir) -> list[str]:
    """Every stored partition the ledger lists is on disk."""
    return [
        f"{data.root / partition.path}: stored {partition.kind} file of period "
        f"{partition.period} is missing; restore it from a backup of the data directory"
        for partition in ledger.partition_files()
        if not (data.root / partition.path).is_file()
    ]


def documents_present(ledger: Ledger, data: DataDir) -> list[str]:
    """Every invoice and note file the ledger says it issued is on disk."""
    return [
        f"{data.root / path}: file of {number} is missing; the next run --close or "
        "rerate --apply renders it again"
        for number, path in document_files(ledger)
        if not (data.root / path).is_file()
    ]


def documents_known(ledger: Ledger, data: DataDir) -> list[str]:
    """Every invoice and note file on disk is one the ledger issued. One it does not
    know was issued by a ledger since lost (a restore from an older backup): closing
    its period again would issue its number anew, to someone else."""
    known = {path for _, path in document_files(ledger)}
    folder = data.root / "invoices"
    found = sorted(
        path
        for pattern in ("*/*.pdf", "*/*.html")
        for path in folder.glob(pattern)
        if not path.name.startswith(".")
    )
    return [
        f"{path}: an issued document the ledger does not know (restored from an older "
        "backup?); do not close its period again before restoring a newer backup"
        for path in found
        if data.relative(path) not in known
    ]


def numbers_contiguous(ledger: Ledger, data: DataDir) -> list[str]:
    """Every number series has no gap (a voided number stays used, so it counts)."""
    return [f"{data.ledger}: {gap}" for gap in numbering_gaps(ledger)]


def checksums_match(ledger: Ledger, data: DataDir) -> list[str]:
    """Every stored file, index and document still has the sha256 the ledger recorded
    when it was written (missing ones are reported by the checks above)."""
    return verify_data_dir(ledger, data, missing_files=False)


# ``ledger check`` runs these in order; a new check is one more function here.
CHECKS: tuple[Check, ...] = (
    database_intact,
    partitions_present,
    documents_present,
    documents_known,
    numbers_contiguous,
    checksums_match,
)


def check(settings: Settings) -> CheckReport:
    """``cdr-rating ledger check``: every check of :data:`CHECKS` on a snapshot."""
    data = DataDir(settings.paths.data_dir)
    with existing_ledger(settings) as ledger:
        problems = [problem for found in CHECKS for problem in found(ledger, data)]
        partitions = len(ledger.partition_files())
        documents = len(document_files(ledger))
    summary = (
        f"{data.ledger}: ok: {len(CHECKS)} checks, {partitions} stored files and "
        f"{documents} invoice files present and matching their checksums, numbering gap-free"
    )
    return CheckReport(problems, summary)
