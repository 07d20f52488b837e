"""Atomic writes: every file of the data directory, and every output, is written
beside its final name under a hidden temporary name, flushed to disk and renamed into
place, so a reader never sees a partial file under a final name.

Files are written ``0640`` and missing folders created ``0750``, whatever the umask
(see ``cdr_rating.permissions``)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from cdr_rating.errors import InputError, UsageError, WriteError
from cdr_rating.faults import checkpoint
from cdr_rating.permissions import FILE_MODE, make_directories

TEMPORARY_SUFFIX = ".tmp"


def fsync_directory(path: Path) -> None:
    """Flush a directory entry (a rename) to disk, where the file system allows it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems cannot sync a directory; the rename stays atomic
        pass
    finally:
        os.close(descriptor)


def write_atomically(
    path: Path,
    write: Callable[[Path], None],
    *,
    sync_directory: bool = True,
    point: str = "temporary-written",
) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it, then rename it over.

    ``sync_directory=False`` leaves flushing the rename to the caller (see
    :func:`sync_directories`), which then does it once for many files. ``point`` names
    the kill point between flushing and renaming (journals have their own, so that
    they do not shift the numbering of the store's writes in the crash tests).
    """
    make_directories(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
    try:
        write(temporary)
        temporary.chmod(FILE_MODE)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        checkpoint(point)
        os.replace(temporary, path)
        if sync_directory:
            fsync_directory(path.parent)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(path, exc) from exc
    finally:
        temporary.unlink(missing_ok=True)


def sync_directories(paths: Iterable[Path]) -> None:
    """Flush the directory entries of files written with ``sync_directory=False``."""
    for directory in sorted({path.parent for path in paths}):
        fsync_directory(directory)


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


def write_bytes(
    path: Path, data: bytes, *, sync_directory: bool = True, point: str = "temporary-written"
) -> None:
    """``data`` to ``path``, atomically."""

    def write(target: Path) -> None:
        target.write_bytes(data)

    write_atomically(path, write, sync_directory=sync_directory, point=point)


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


def files_sha256(paths: Sequence[Path]) -> list[str | None]:
    """The sha256 of each of ``paths`` (``None``: no such file), hashed in a few threads:
    hashlib releases the GIL, so two cores hash about twice as fast as one.

    Raises:
        InputError: a file that is there but cannot be read.
    """

    def digest(path: Path) -> str | None:
        return file_sha256(path) if path.is_file() else None

    workers = max(1, min(4, os.cpu_count() or 1, len(paths)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(digest, paths))
