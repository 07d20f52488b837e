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
    journal/<kind>-<name>.json                    what an interrupted writer was about to
                                                  do (``store.journal``)
    backups/ledger-<UTC time>-<random>.sqlite     the nightly run's ledger backups (default
                                                  place, ``[ledger] backup_dir``)
    ledger.sqlite                                 the ledger (``cdr_rating.ledger``)
    run.lock                                      the run lock (pid and start of its holder)

The ledger is the source of truth. A stored file is removed only when the journal of the
interrupted writer that created it names it and the ledger has not committed it, never
merely because the ledger does not list it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
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
# Folders whose files only exist beside a ledger that recorded them.
STORED_FOLDERS = ("rated", "rejects", "manifests", "invoices", "rerates", "audit", "backups")
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
    def journals(self) -> Path:
        return self.root / "journal"

    @property
    def backups(self) -> Path:
        """Where the nightly run keeps ledger backups unless ``[ledger] backup_dir`` says."""
        return self.root / "backups"

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

    def first_stored_file(self) -> Path | None:
        """A file that only runs recorded in a ledger write (a store file, manifest,
        invoice, re-rating or backup), if there is one: proof that a ledger existed."""
        found = (
            path
            for folder in STORED_FOLDERS
            for path in (self.root / folder).rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        return next(found, None)

    def stored_partitions(self) -> list[Path]:
        """Every rated and rejects Parquet file on disk (recorded or not)."""
        found: list[Path] = []
        for kind in KINDS:
            if (self.root / kind).is_dir():
                found += (self.root / kind).glob("*/*.parquet")
        return sorted(path for path in found if not path.name.startswith("."))


def remove_orphans(
    data: DataDir,
    partitions: set[str],
    runs: set[str],
    journaled: Iterable[str],
    *,
    dry_run: bool = False,
) -> list[str]:
    """Remove what an interrupted writer left behind; return the paths (relative to the
    root).

    Orphans: hidden temporary files, spill folders and indexes of older schemes (none of
    them ever committed), and the files ``journaled`` by interrupted writers (see
    ``store.journal``) that the ledger has not committed: rated and rejects files it does
    not list (``partitions``, relative paths) with their call index files, and manifests
    of runs it does not know (``runs``). A file no journal names is never removed. With
    ``dry_run`` nothing is removed, only listed.
    """
    orphans: list[Path] = []
    for folder in ("rated", "rejects", "index", "manifests", "invoices", "journal", "backups"):
        if (data.root / folder).is_dir():
            orphans += (
                path
                for path in (data.root / folder).rglob(f".*{TEMPORARY_SUFFIX}")
                if path.is_file()
            )
    if data.root.is_dir():
        orphans += (path for path in data.root.glob(f"{SPILL_PREFIX}*") if path.is_dir())
    index_root = data.root / "index"
    if index_root.is_dir():
        orphans += (path for path in index_root.iterdir() if path.name != INDEX_SCHEME)
    for entry in journaled:
        if ".." in Path(entry).parts or Path(entry).is_absolute():
            continue  # never outside the data directory, whatever a journal says
        path = data.root / entry
        kind = entry.partition("/")[0]
        if kind in KINDS and entry not in partitions:
            orphans.append(path)
            if kind == "rated":
                orphans.append(data.index_of(path))
        elif kind == "manifests" and path.parent == data.manifests and path.stem not in runs:
            orphans.append(path)
    removed = sorted({path for path in orphans if path.exists()})
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
