"""Verifying the files of the data directory against the ledger before they are used.

The ledger keeps the sha256 of every stored file (``ledger.checksums``). The rules:

- A month stage (close, preview, re-rate, explain) gets its store files from
  ``jobs.month.StoredMonth.of``, which verifies them here first: each file is hashed
  once per command (per ledger connection), streaming, several at a time. A missing
  file, or one whose sha256 differs, stops the command (``StoredFileError``, exit 3)
  with one line naming the file and how to recover.
- A file written before ledger schema 4 has no checksum yet. Its first read records
  one, and for a rated file only once its calls add up to the totals the ledger
  recorded when it was written (``check_file_totals``, which closing also runs on every
  file of the period).
- A call index file that fails its check is derived data: the nightly run rebuilds it
  from its (verified) rated file (``stale_indexes``).
- ``verify_data_dir`` checks everything the ledger refers to, for ``ledger check``.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import polars as pl

from cdr_rating.errors import StoredFileError
from cdr_rating.ledger import Ledger, PartitionFile
from cdr_rating.ledger.checksums import (
    RecordedFile,
    record_partition_checksums,
    recorded_files,
)
from cdr_rating.store import DataDir, files_sha256, scan_rated

RESTORE = "restore it from a backup of the data directory, then run the command again"

# Files verified so far by each open ledger (one command), as "path:checksum".
_verified: weakref.WeakKeyDictionary[Ledger, set[str]] = weakref.WeakKeyDictionary()


def missing(path: Path) -> StoredFileError:
    return StoredFileError(f"{path}: missing, but the ledger lists it as stored; {RESTORE}")


def damaged(path: Path) -> StoredFileError:
    return StoredFileError(
        f"{path}: damaged: its sha256 differs from the one the ledger recorded when it was "
        f"written; {RESTORE}"
    )


def verify_stored(ledger: Ledger, data: DataDir, files: Sequence[PartitionFile]) -> None:
    """Check ``files`` (store files the ledger lists) against their recorded sha256;
    record it for those that have none yet, once their totals agree.

    Raises:
        StoredFileError: a file is missing or differs (the first in path order).
    """
    done = _verified.setdefault(ledger, set())
    todo = [file for file in files if f"{file.path}:{file.checksum}" not in done]
    if not todo:
        return
    paths = [data.root / file.path for file in todo]
    unrecorded: dict[str, str] = {}
    for file, path, found in zip(todo, paths, files_sha256(paths), strict=True):
        if found is None:
            raise missing(path)
        if file.checksum is None:
            unrecorded[file.path] = found
        elif found != file.checksum:
            raise damaged(path)
    if unrecorded:
        check_file_totals(ledger, data, [file for file in todo if file.path in unrecorded])
        record_partition_checksums(ledger, unrecorded)
    done.update(f"{file.path}:{file.checksum}" for file in todo)
    done.update(f"{path}:{checksum}" for path, checksum in unrecorded.items())


def mark_verified(ledger: Ledger, files: Sequence[PartitionFile]) -> None:
    """``files`` were written by this command and recorded with their checksums: a
    month stage later in the same command need not hash them again."""
    _verified.setdefault(ledger, set()).update(
        f"{file.path}:{file.checksum}" for file in files if file.checksum is not None
    )


def checksums_of(data: DataDir, paths: Sequence[Path]) -> dict[str, str]:
    """The sha256 of files just written, by path in the data directory: what the ledger
    records with them."""
    return {
        data.relative(path): found
        for path, found in zip(paths, files_sha256(paths), strict=True)
        if found is not None
    }


def with_checksums(data: DataDir, file: PartitionFile, checksums: dict[str, str]) -> PartitionFile:
    """``file`` with the checksums of it and of its call index, from ``checksums``."""
    path = data.root / file.path
    index = data.relative(data.index_of(path)) if file.kind == "rated" else None
    return dataclasses.replace(
        file,
        checksum=checksums.get(file.path),
        index_checksum=None if index is None else checksums.get(index),
    )


def check_file_totals(ledger: Ledger, data: DataDir, files: Sequence[PartitionFile]) -> None:
    """Sum the calls, billable seconds and charges of each rated file of ``files`` per
    currency, exactly, and compare them with the ledger's ``file_totals`` (recorded from
    the rows the file was written from): one streaming scan of three columns.

    Raises:
        StoredFileError: a file whose sums differ (the first in path order).
    """
    rated = sorted((file for file in files if file.kind == "rated"), key=lambda f: f.path)
    if not rated:
        return
    sums = (
        scan_rated([data.root / file.path for file in rated], with_source=True)
        .group_by("_from", "currency")
        .agg(pl.len().alias("calls"), pl.col("billable_s").sum(), pl.col("charge").sum())
        .collect()
    )
    found: dict[tuple[str, str], tuple[int, int, Decimal]] = {
        (source, currency): (calls, billable, Decimal(charge))
        for source, currency, calls, billable, charge in sums.iter_rows()
    }
    recorded: dict[tuple[str, str], dict[str, tuple[int, int, Decimal]]] = {}
    for total in ledger.file_totals():
        recorded.setdefault((total.sha256, total.period), {})[total.currency] = (
            total.calls,
            total.billable_s,
            total.charge,
        )
    for file in rated:
        path = str(data.root / file.path)
        mine = {currency: value for (source, currency), value in found.items() if source == path}
        expected = recorded.get((file.sha256, file.period), {})
        if mine != expected:
            raise StoredFileError(
                f"{path}: damaged: its calls add up to {_describe(mine)}, but the ledger "
                f"recorded {_describe(expected)} when it was written; {RESTORE}"
            )


def _describe(totals: dict[str, tuple[int, int, Decimal]]) -> str:
    if not totals:
        return "no calls"
    return ", ".join(
        f"{currency} {charge} for {calls} calls ({billable} s)"
        for currency, (calls, billable, charge) in sorted(totals.items())
    )


def stale_indexes(
    data: DataDir, files: Sequence[PartitionFile]
) -> tuple[list[Path], list[Path], list[Path]]:
    """The rated files of ``files`` whose call index cannot be used as it is:
    ``(damaged, unrecorded, missing)``: its sha256 differs from the ledger's, none is
    recorded (written before schema 4), or there is no index file."""
    rated = [file for file in files if file.kind == "rated"]
    indexes = [data.index_of(data.root / file.path) for file in rated]
    found: dict[str, list[Path]] = {"damaged": [], "unrecorded": [], "missing": []}
    for file, checksum in zip(rated, files_sha256(indexes), strict=True):
        if checksum is None:
            found["missing"].append(data.root / file.path)
        elif file.index_checksum is None:
            found["unrecorded"].append(data.root / file.path)
        elif checksum != file.index_checksum:
            found["damaged"].append(data.root / file.path)
    return found["damaged"], found["unrecorded"], found["missing"]


def verify_data_dir(ledger: Ledger, data: DataDir, *, missing_files: bool = True) -> list[str]:
    """Every file the ledger refers to, checked: one line per problem (a missing file,
    or one whose sha256 differs from the ledger's), each saying what to do. Files with
    no checksum yet (written before schema 4) are not problems. Without
    ``missing_files``, a missing stored file or document is not reported (``ledger
    check`` reports those in its own checks); a missing index still is."""
    files = [file for file in recorded_files(ledger) if file.checksum is not None]
    paths = [_path_of(data, file) for file in files]
    problems = []
    for file, path, found in zip(files, paths, files_sha256(paths), strict=True):
        if found == file.checksum or (found is None and not missing_files and file.kind != "index"):
            continue
        if file.kind == "index":
            problems.append(
                f"{path}: call index {'missing' if found is None else 'damaged'}; the next "
                "run rebuilds it from its rated file"
            )
        else:
            problems.append(str((missing if found is None else damaged)(path)))
    return problems


def _path_of(data: DataDir, file: RecordedFile) -> Path:
    path = data.root / file.path
    return data.index_of(path) if file.kind == "index" else path
