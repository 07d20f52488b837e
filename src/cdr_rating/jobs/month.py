"""A stored month in bounded slices: the calls of one period, bucketed by account.

Month stages (closing, previewing, re-rating, explaining) never hold a whole month.
They ask for the period's store files here and work through them a slice at a time:
slice ``b`` of ``n`` holds every call of the accounts whose hash falls in bucket ``b``
(``store.account_bucket``), so an account's allowances, tiers and totals are whole in
one slice, and the slices together hold every call exactly once.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl

from cdr_rating.jobs.verify import verify_stored
from cdr_rating.ledger import Ledger, PartitionFile
from cdr_rating.permissions import make_directories
from cdr_rating.store import SPILL_PREFIX, DataDir, account_bucket, scan_rated, scan_rejects

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

# Calls per slice. Billing holds about 1 GiB per million calls of a slice, re-rating
# (old and new side by side) about 2: slices of 2M keep either under 5 GiB, whatever
# the month's size.
SLICE_CALLS = 2_000_000
# From this many slices on, the month is first written out once, bucketed, into a
# private folder: each slice then reads only its own calls. Below it each slice scans
# the month's files for its accounts, which reads their account column every time (a
# second per 10M calls): cheaper for a few slices than one more read and write.
SPILL_FROM_SLICES = 8


@dataclass(frozen=True)
class StoredMonth:
    """The store files of one period, as the ledger lists them, verified against the
    checksums it recorded (``jobs.verify``): every month stage gets its files here."""

    data: DataDir
    period: str
    rated: tuple[PartitionFile, ...]
    rejects: tuple[PartitionFile, ...]

    @classmethod
    def of(cls, ledger: Ledger, data: DataDir, period: str) -> StoredMonth:
        files = ledger.partition_files(periods=[period])
        verify_stored(ledger, data, files)
        rated = tuple(file for file in files if file.kind == "rated")
        rejects = tuple(file for file in files if file.kind == "rejects")
        return cls(data, period, rated, rejects)

    @property
    def calls(self) -> int:
        return sum(file.rows for file in self.rated)

    def paths(self, files: Sequence[PartitionFile]) -> list[Path]:
        return [self.data.root / file.path for file in files]

    def slices(self, slice_calls: int | None = None) -> int:
        """How many account buckets the month is worked through in."""
        size = slice_calls or SLICE_CALLS
        return max(1, -(-self.calls // size))

    def rated_calls(self, *, with_source: bool = False) -> pl.LazyFrame:
        """Every stored rated call of the period (lazy: filter before collecting)."""
        return scan_rated(self.paths(self.rated), with_source=with_source)

    def stored_rejects(self, *, with_source: bool = False) -> pl.LazyFrame:
        return scan_rejects(self.paths(self.rejects), with_source=with_source)

    def of_account(self, account: str) -> pl.DataFrame:
        """One account's rated calls (the filter is pushed into the scan)."""
        return self.rated_calls().filter(pl.col("account") == account).collect()

    def buckets(self, slice_calls: int | None = None) -> Iterator[tuple[int, int]]:
        """``(bucket, buckets)`` for each slice, in order."""
        buckets = self.slices(slice_calls)
        for bucket in range(buckets):
            yield bucket, buckets


def relative_source(calls: FrameT, data: DataDir) -> FrameT:
    """``_from`` as the ledger names store files: relative to the data directory."""
    return calls.with_columns(pl.col("_from").str.strip_prefix(f"{data.root}/"))


def in_bucket(bucket: int, buckets: int, column: str = "account") -> pl.Expr:
    """Rows of slice ``bucket`` of ``buckets`` (every row when there is one slice)."""
    if buckets == 1:
        return pl.lit(value=True)
    return account_bucket(pl.col(column), buckets) == bucket


@dataclass(frozen=True)
class MonthSlices:
    """The rated calls of a month, a slice of accounts at a time (``calls``), each row
    with ``_from``: the store file it is kept in (relative to the data directory)."""

    month: StoredMonth
    buckets: int
    spilled: Path | None = None

    def calls(self, bucket: int) -> pl.LazyFrame:
        if self.spilled is not None:
            files = sorted((self.spilled / f"_bucket={bucket}").glob("*.parquet"))
            if not files:
                return relative_source(
                    self.month.rated_calls(with_source=True).clear(), self.month.data
                )
            return pl.scan_parquet(files)
        scan = self.month.rated_calls(with_source=True).filter(in_bucket(bucket, self.buckets))
        return relative_source(scan, self.month.data)


@contextmanager
def spill_folder(data: DataDir) -> Iterator[Path]:
    """A private folder in the data directory, removed afterwards (one a killed process
    leaves is an orphan the next run removes)."""
    make_directories(data.root)
    folder = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=data.root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def month_slices(
    month: StoredMonth, slice_calls: int | None = None, *, buckets: int | None = None
) -> Iterator[MonthSlices]:
    """``month`` in slices (``buckets`` of them, or as many as ``slice_calls`` asks);
    from ``SPILL_FROM_SLICES`` on, bucketed once into a spill folder first, streaming."""
    count = buckets or month.slices(slice_calls)
    if count < SPILL_FROM_SLICES:
        yield MonthSlices(month, count)
        return
    with spill_folder(month.data) as folder:
        calls = relative_source(month.rated_calls(with_source=True), month.data)
        calls.with_columns(_bucket=account_bucket(pl.col("account"), count)).sink_parquet(
            pl.PartitionBy(folder, key="_bucket", include_key=False),
            mkdir=True,
            compression="lz4",
            statistics=False,
        )
        yield MonthSlices(month, count, folder)
