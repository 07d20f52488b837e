"""Where everything lives in the data directory, and removing what a killed run left.

Layout of ``data_dir`` (default ``var/``)::

    rated/period=2026-10/<sha256[:16]>.parquet    rated calls of one input file in one
                                                  billing period (named after the file)
    rejects/period=2026-10/<sha256[:16]>.parquet  its rejects in that period
    rejects/unknown/<sha256[:16]>.parquet         its rejects without a readable start
    index/polars-<version>/period=2026-10/...     call_id hashes of each rated file, for
                                                  duplicate checks (derived, rebuildable)
    manifests/<run_id>.json                       what each run read, wrote and counted
    invoices/2026-10/                             invoice PDFs and HTML, itemised calls
    rerates/<rerate_id>.json, audit/<rerate_id>/  applied re-ratings and the files they
                                                  replaced
    .spill-<random>/                              a month stage at work: the month bucketed
                                                  by account, a re-rating's new rows
    ledger.sqlite                                 the ledger (``cdr_rating.ledger``)
    run.lock                                      the run lock (pid and start of its holder)

The ledger is the source of truth: a Parquet file it does not list is an orphan of a
killed run, removed by the next run before it does anything else.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from cdr_rating.periods import UNKNOWN_PERIOD
from cdr_rating.store.files import TEMPORARY_SUFFIX, fsync_directory
from cdr_rating.store.lock import LOCK_FILE

Kind = Literal["rated", "rejects"]
KINDS: tuple[Kind, ...] = ("rated", "rejects")
LEDGER_FILE = "ledger.sqlite"
# Private folders of a month stage at work (a month bucketed by account, a re-rating's
# new rows), removed when it ends; one left by a killed process is an orphan.
SPILL_PREFIX = ".spill-"
# Polars' hash may change between versions, so the call index lives under a folder
# named after the version and is rebuilt after an upgrade.
INDEX_SCHEME = f"polars-{pl.__version__}"


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
    if data.root.is_dir():
        orphans += (path for path in data.root.glob(f"{SPILL_PREFIX}*") if path.is_dir())
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
                fsync_directory(parent)
    return [data.relative(path) for path in removed]
