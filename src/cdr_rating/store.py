"""The data directory: atomic writes, its layout, the call index and the run lock.

Layout of ``data_dir`` (default ``var/``)::

    rated/period=2026-10/<sha256[:16]>.parquet    rated calls of one input file in one
                                                  billing period (named after the file)
    rejects/period=2026-10/<sha256[:16]>.parquet  its rejects in that period
    rejects/unknown/<sha256[:16]>.parquet         its rejects without a readable start
    index/polars-<version>/period=2026-10/...     call_id hashes of each rated file, for
                                                  duplicate checks (derived, rebuildable)
    manifests/<run_id>.json                       what each run read, wrote and counted
    ledger.sqlite                                 the ledger (``cdr_rating.ledger``)
    run.lock                                      the run lock (pid and start of its holder)

Every file is written beside its final name under a hidden temporary name, flushed to
disk and renamed into place, so a reader never sees a partial file under a final
name. The ledger is the source of truth: a Parquet file it does not list is an orphan
of a killed run, removed by the next run before it does anything else.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polars as pl

from cdr_rating.errors import InputError, LockHeldError, UsageError

Kind = Literal["rated", "rejects"]
KINDS: tuple[Kind, ...] = ("rated", "rejects")
UNKNOWN_PERIOD = "unknown"
LEDGER_FILE = "ledger.sqlite"
LOCK_FILE = "run.lock"
INDEX_SCHEME = f"polars-{pl.__version__}"
TEMPORARY_SUFFIX = ".tmp"

KILL_AT_ENV = "CDR_RATING_TEST_KILL_AT"
PAUSE_AT_ENV = "CDR_RATING_TEST_PAUSE_AT"
_checkpoints_passed: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    """Fault injection for the crash and lock tests; a no-op unless they set it up.

    ``CDR_RATING_TEST_KILL_AT=point`` (or ``point#N``, the N-th time the point is
    passed) kills this process with SIGKILL there; ``CDR_RATING_TEST_PAUSE_AT=point:S``
    sleeps S seconds there. Only tests set these variables; never set them in production.
    """
    kill_at, pause_at = os.environ.get(KILL_AT_ENV), os.environ.get(PAUSE_AT_ENV)
    if not kill_at and not pause_at:
        return
    _checkpoints_passed[point] += 1
    here = {point, f"{point}#{_checkpoints_passed[point]}"}
    if kill_at in here:
        os.kill(os.getpid(), signal.SIGKILL)
    if pause_at:
        name, _, seconds = pause_at.partition(":")
        if name in here:
            time.sleep(float(seconds or 1))


def _fsync_directory(path: Path) -> None:
    """Flush a directory entry (a rename) to disk, where the file system allows it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems cannot sync a directory; the rename stays atomic
        pass
    finally:
        os.close(descriptor)


def write_atomically(
    path: Path, write: Callable[[Path], None], *, sync_directory: bool = True
) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it, then rename it over.

    ``sync_directory=False`` leaves flushing the rename to the caller (see
    :func:`sync_directories`), which then does it once for many files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
    try:
        write(temporary)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        checkpoint("temporary-written")
        os.replace(temporary, path)
        if sync_directory:
            _fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def sync_directories(paths: Iterable[Path]) -> None:
    """Flush the directory entries of files written with ``sync_directory=False``."""
    for directory in sorted({path.parent for path in paths}):
        _fsync_directory(directory)


def write_frame(frame: pl.DataFrame, path: Path) -> None:
    """Parquet or CSV by extension, atomically."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        write_atomically(path, lambda target: frame.write_parquet(target, statistics=True))
    elif suffix == ".csv":
        write_atomically(path, frame.write_csv)
    else:
        raise UsageError(f"{path}: output must end in .parquet or .csv")


def write_partition(frame: pl.DataFrame, path: Path, *, sync_directory: bool = True) -> None:
    """A Parquet file of the store, atomically.

    LZ4 without column statistics: a third less CPU to write than Polars' default
    (zstd with statistics) and faster to read back, for files about 1.6 times as large.
    Store files are read whole, a period at a time, so statistics would prune nothing.
    """
    write_atomically(
        path,
        lambda target: frame.write_parquet(target, compression="lz4", statistics=False),
        sync_directory=sync_directory,
    )


def write_bytes(path: Path, data: bytes, *, sync_directory: bool = True) -> None:
    """``data`` to ``path``, atomically."""

    def write(target: Path) -> None:
        target.write_bytes(data)

    write_atomically(path, write, sync_directory=sync_directory)


def write_json(data: Any, path: Path) -> None:
    """``data`` as indented JSON, atomically."""
    write_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, read in chunks.

    Raises:
        InputError: the file cannot be read.
    """
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror}") from exc


def period_of(start: pl.Series, timezone: str) -> pl.Series:
    """The billing period ``YYYY-MM`` of each UTC instant: its calendar month in
    ``timezone``; ``"unknown"`` for a null start.

    Found by a sorted search among the month boundaries the instants span, which is
    several times faster than formatting every instant in the timezone.
    """
    known = start.drop_nulls()
    if known.is_empty():
        return pl.Series("_period", [UNKNOWN_PERIOD] * len(start), dtype=pl.String)
    zone = ZoneInfo(timezone)
    first, last = known.min(), known.max()
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    year, month = first.astimezone(zone).year, first.astimezone(zone).month
    months = [datetime(year, month, 1, tzinfo=zone)]
    while months[-1] <= last:
        year, month = year + month // 12, month % 12 + 1
        months.append(datetime(year, month, 1, tzinfo=zone))
    bounds = pl.Series(months, dtype=pl.Datetime("us", "UTC"))
    labels = pl.Series([f"{m.year:04d}-{m.month:02d}" for m in months], dtype=pl.String)
    index = bounds.search_sorted(start.fill_null(bounds[0]), side="right") - 1
    return pl.select(
        _period=pl.when(start.is_null())
        .then(pl.lit(UNKNOWN_PERIOD))
        .otherwise(labels.gather(index))
    ).to_series()


def call_hash(call_id: pl.Expr) -> pl.Expr:
    """The hash kept in the call index. Polars' hash may change between versions, so
    the index lives under ``index/<INDEX_SCHEME>/`` and is rebuilt after an upgrade."""
    return call_id.hash().alias("call_hash")


@dataclass(frozen=True)
class DataDir:
    """Paths inside the data directory (nothing here touches the disk)."""

    root: Path

    @property
    def ledger(self) -> Path:
        return self.root / LEDGER_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def manifest(self, run_id: str) -> Path:
        return self.manifests / f"{run_id}.json"

    def partition(self, kind: Kind, period: str, sha256: str) -> Path:
        """Where the rows of one input file (by content hash) in one period are kept."""
        folder = UNKNOWN_PERIOD if period == UNKNOWN_PERIOD else f"period={period}"
        return self.root / kind / folder / f"{sha256[:16]}.parquet"

    def index_of(self, rated_partition: Path) -> Path:
        """The call index file of a rated partition."""
        inside = rated_partition.relative_to(self.root / "rated")
        return self.root / "index" / INDEX_SCHEME / inside

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def stored_partitions(self) -> list[Path]:
        """Every rated and rejects Parquet file on disk (recorded or not)."""
        found: list[Path] = []
        for kind in KINDS:
            if (self.root / kind).is_dir():
                found += (self.root / kind).glob("*/*.parquet")
        return sorted(path for path in found if not path.name.startswith("."))


def remove_orphans(
    data: DataDir, partitions: set[str], runs: set[str], *, dry_run: bool = False
) -> list[str]:
    """Remove what a killed run left behind; return the paths (relative to the root).

    Orphans: hidden temporary files, rated and rejects files the ledger does not list
    (``partitions``, relative paths), their call index files and indexes of older
    schemes, and manifests of runs the ledger does not know (``runs``). With
    ``dry_run`` nothing is removed, only listed.
    """
    orphans: list[Path] = []
    for folder in ("rated", "rejects", "index", "manifests"):
        if (data.root / folder).is_dir():
            orphans += (
                path
                for path in (data.root / folder).rglob(f".*{TEMPORARY_SUFFIX}")
                if path.is_file()
            )
    orphans += (path for path in data.stored_partitions() if data.relative(path) not in partitions)
    index_root = data.root / "index"
    if index_root.is_dir():
        orphans += (path for path in index_root.iterdir() if path.name != INDEX_SCHEME)
        if (index_root / INDEX_SCHEME).is_dir():
            orphans += (
                path
                for path in (index_root / INDEX_SCHEME).glob("*/*.parquet")
                if f"rated/{path.relative_to(index_root / INDEX_SCHEME).as_posix()}"
                not in partitions
            )
    if data.manifests.is_dir():
        orphans += (path for path in data.manifests.glob("*.json") if path.stem not in runs)
    removed = sorted(set(orphans))
    if not dry_run:
        for path in removed:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        for parent in {path.parent for path in removed}:
            if parent.is_dir():
                _fsync_directory(parent)
    return [data.relative(path) for path in removed]


def write_call_index(
    rated: pl.DataFrame, data: DataDir, partition: Path, *, sync_directory: bool = True
) -> Path:
    """Write the call index of a rated partition (its rows' ``call_hash``); return its path."""
    index = rated.select(call_hash(pl.col("call_id")))
    path = data.index_of(partition)
    write_atomically(
        path,
        lambda target: index.write_parquet(target, compression="uncompressed", statistics=False),
        sync_directory=sync_directory,
    )
    return path


def call_index_hits(
    data: DataDir, partitions: Sequence[Path], hashes: pl.Series, *, repair: bool = True
) -> pl.DataFrame:
    """``call_hash`` and ``partition`` (relative path) of the stored calls in
    ``partitions`` whose hash is one of ``hashes``.

    An index file that is missing (removed, or written by another Polars version) is
    rebuilt from its partition; with ``repair=False`` (a dry run) only in memory.
    """
    indexed = {data.index_of(partition): partition for partition in partitions}
    present: list[Path] = []
    missing: list[Path] = []
    for index, partition in indexed.items():
        if not index.is_file() and repair:
            write_call_index(pl.read_parquet(partition, columns=["call_id"]), data, partition)
        (present if index.is_file() else missing).append(index)
    wanted = pl.col("call_hash").is_in(hashes.implode())
    frames = []
    if present:
        # Read every file in one scan, then filter once: faster than filtering inside the
        # scan (8 bytes per stored call in memory). Which file holds a hit is looked up
        # afterwards, for the (usually no) hits alone.
        stored = pl.scan_parquet(present).collect()
        hits = stored.filter(wanted).get_column("call_hash")
        del stored
        if not hits.is_empty():
            located = (
                pl.scan_parquet(present, include_file_paths="_index")
                .filter(pl.col("call_hash").is_in(hits.implode()))
                .collect()
            )
            frames.append(
                located.select(
                    "call_hash",
                    partition=pl.col("_index").replace_strict(
                        {str(index): data.relative(indexed[index]) for index in present},
                        return_dtype=pl.String,
                    ),
                )
            )
    for index in missing:
        calls = pl.read_parquet(indexed[index], columns=["call_id"])
        frames.append(
            calls.select(call_hash(pl.col("call_id")))
            .filter(wanted)
            .with_columns(partition=pl.lit(data.relative(indexed[index])))
        )
    if not frames:
        return pl.DataFrame(schema={"call_hash": pl.UInt64, "partition": pl.String})
    return pl.concat(frames)


class RunLock:
    """One run at a time: an exclusive ``flock`` on ``data_dir/run.lock``.

    The kernel releases the lock when the holder exits, however it exits (even on
    SIGKILL), so a stale lock file never blocks a run. The holder writes its pid and
    start time into the file so that the next one can say who holds it. A dry run
    (``shared=True``) takes a shared lock and writes nothing; it does not create the
    file either.
    """

    def __init__(self, data_dir: Path, *, shared: bool = False) -> None:
        self.path = data_dir / LOCK_FILE
        self.shared = shared
        self._descriptor: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        if self.shared:
            if not self.path.exists():
                return
            descriptor = os.open(self.path, os.O_RDONLY)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(
                descriptor, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
            )
        except BlockingIOError:
            os.close(descriptor)
            raise LockHeldError(self._held_message()) from None
        self._descriptor = descriptor
        if not self.shared:
            holder = json.dumps({"pid": os.getpid(), "started": _now()}) + "\n"
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, holder.encode(), 0)
            os.fsync(descriptor)
        checkpoint("locked")

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the last descriptor releases the flock
            self._descriptor = None

    def _held_message(self) -> str:
        where = self.path.parent
        for _ in range(20):  # the holder writes its pid just after taking the lock
            holder = _read_holder(self.path)
            if holder is not None:
                pid, started = holder
                if _alive(pid):
                    return (
                        f"another run (pid {pid}, started {started}) holds the lock on "
                        f"{where}; try again later"
                    )
            time.sleep(0.05)
        return f"another process holds the lock on {where} (a --dry-run?); try again later"


def _read_holder(path: Path) -> tuple[int, str] | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return int(holder["pid"]), str(holder["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
