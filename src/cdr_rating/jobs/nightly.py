"""The nightly run: new inbox files in; rated calls, rejects, a manifest and the ledger out.

One run, under the data directory's lock:

1. remove the orphans of interrupted writers: the files named in their journals that
   the ledger did not commit (``cdr_rating.store.journal``), and temporary files;
2. load the plan (sheets, accounts) and list the inbox: a file whose content (sha256)
   is already in the ledger is skipped, also under another name;
3. rate the new files together (``cdr_rating.pipeline.rate_lazy``);
4. file every row under its billing period (the calendar month of its start in the
   billing timezone); a rated call whose ``call_id`` is already stored for its period
   becomes a ``duplicate`` reject, one in a closed period a ``closed_period`` reject
   (unless ``allow_closed``);
5. name the files it is about to write in its journal (flushed), write each input
   file's rows per period as Parquet, named after the file's sha256, then the manifest,
   then record everything in the ledger in one transaction;
6. close the period if asked, back up the ledger (``[ledger] backups``) and remove the
   journal.

A run killed anywhere before the ledger commit leaves only orphans that its journal
names, and the next run does the same work again with the same result. With ``period``
only the new files that have a call in that period are ingested (whole: their calls of
other periods go to those periods); the other new files wait in the inbox for a run
without ``period``.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cdr_rating.billing.rerate import RERATEABLE
from cdr_rating.cdrs import InputOptions, Reason
from cdr_rating.cdrs.raw_lines import attach_raw
from cdr_rating.config import Settings
from cdr_rating.errors import InputError, UsageError
from cdr_rating.faults import checkpoint
from cdr_rating.jobs.books import open_ledger, rotate_backups
from cdr_rating.jobs.close import CloseReport, close_period
from cdr_rating.jobs.invoices import finish_voids
from cdr_rating.jobs.setup import LoadedPlan, file_reference, input_options, load_plan, setup_from
from cdr_rating.jobs.verify import (
    checksums_of,
    mark_verified,
    stale_indexes,
    verify_stored,
    with_checksums,
)
from cdr_rating.jobs.verify import missing as missing_file
from cdr_rating.ledger import FileTotal, IngestedFile, Ledger, PartitionFile, RunRecord
from cdr_rating.ledger.checksums import record_partition_checksums
from cdr_rating.money import format_amount
from cdr_rating.periods import check_period, period_bounds, period_of
from cdr_rating.pipeline import READ_FAILURES, estimated_rows, rate_lazy, unreadable_input
from cdr_rating.pipeline import SLICE_ROWS as PIPELINE_SLICE_ROWS
from cdr_rating.rating import RatingPlan
from cdr_rating.rating.engine import split_outcome
from cdr_rating.rejects import with_messages
from cdr_rating.store import (
    KINDS,
    RERATE_FIELDS,
    DataDir,
    Journal,
    Kind,
    Piece,
    RunLock,
    call_hash,
    call_index_hits,
    clear_journal,
    file_sha256,
    files_sha256,
    journals,
    remove_orphans,
    sync_directories,
    write_journal,
    write_json,
    write_piece,
)

log = logging.getLogger(__name__)

# Progress: (what is happening, done, total); total 0 means "unknown".
Progress = Callable[[str, int, int], None]
# The steps whose time counts as rating; every other step is bookkeeping.
RATING_STEPS = ("plan", "rate", "rejects")


@dataclass(frozen=True)
class RunRequest:
    """What the run is asked to do (the options of ``cdr-rating run``)."""

    period: str | None = None
    close: bool = False
    dry_run: bool = False
    allow_closed: bool = False


@dataclass(frozen=True)
class InboxFile:
    """A file of the inbox: ``name`` is its path relative to the inbox."""

    path: Path
    name: str
    size: int
    mtime_ns: int
    sha256: str = ""


@dataclass(frozen=True)
class SkippedFile:
    name: str
    sha256: str
    why: str


@dataclass(frozen=True)
class CurrencyTotal:
    calls: int
    billable_s: int
    charge: str


@dataclass
class RunReport:
    """What a run did (or, dry, would do); the manifest is this plus the inputs' hashes."""

    run_id: str
    dry_run: bool
    started: str
    finished: str = ""
    new: list[InboxFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    deferred: list[SkippedFile] = field(default_factory=list)
    read: int = 0
    rated: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates_in_input: int = 0
    duplicates_stored: int = 0
    totals: dict[str, CurrencyTotal] = field(default_factory=dict)
    periods: list[str] = field(default_factory=list)
    close: str | None = None
    already_closed: bool = False
    orphans: list[str] = field(default_factory=list)
    invoices: CloseReport | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cpu_timings: dict[str, float] = field(default_factory=dict)
    manifest: Path | None = None
    backup: Path | None = None

    def reconciles(self) -> bool:
        return self.read == self.rated + self.rejected

    @property
    def bookkeeping_s(self) -> float:
        return sum(t for step, t in self.timings.items() if step not in RATING_STEPS)

    def summary_lines(self) -> list[str]:
        """The summary printed on stderr, one line per fact."""
        lines = [
            f"{'dry run' if self.dry_run else 'run'} {self.run_id}: files {len(self.new)} new, "
            f"{len(self.skipped)} already ingested"
            + (f", {len(self.deferred)} left for another period" if self.deferred else "")
        ]
        if self.orphans:
            verb = "would remove" if self.dry_run else "removed"
            lines.append(f"{verb} {len(self.orphans)} files left by an interrupted run")
        lines.append(f"read {self.read} = rated {self.rated} + rejected {self.rejected}")
        if self.rejected_by_reason:
            listed = ", ".join(f"{r} {n}" for r, n in self.rejected_by_reason.items())
            lines.append(f"rejected by reason: {listed}")
        lines.append(
            f"duplicates: {self.duplicates_in_input + self.duplicates_stored} "
            f"({self.duplicates_in_input} within the new files, {self.duplicates_stored} "
            "already stored)"
        )
        lines += [
            f"total {currency} {total.charge} for {total.calls} calls, "
            f"{total.billable_s} billable seconds"
            for currency, total in self.totals.items()
        ]
        if self.close is not None:
            state = (
                "was already closed"
                if self.already_closed
                else ("would be closed" if self.dry_run else "closed")
            )
            lines.append(f"period {self.close} {state}")
        if self.invoices is not None:
            lines += self.invoices.summary_lines()
        if self.backup is not None:
            lines.append(f"ledger backed up to {self.backup}")
        if self.dry_run:
            lines.append("dry run: nothing was written")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the manifest's counts and the JSON log's summary record."""
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "started": self.started,
            "finished": self.finished,
            "files": {
                "new": [{"path": f.name, "sha256": f.sha256, "size": f.size} for f in self.new],
                "skipped": [vars(f) for f in self.skipped],
                "deferred": [vars(f) for f in self.deferred],
            },
            "counts": {
                "read": self.read,
                "rated": self.rated,
                "rejected": self.rejected,
                "rejected_by_reason": self.rejected_by_reason,
                "duplicates": {
                    "within_input": self.duplicates_in_input,
                    "already_stored": self.duplicates_stored,
                },
            },
            "totals": {currency: vars(total) for currency, total in self.totals.items()},
            "periods": self.periods,
            "close": self.close,
            "already_closed": self.already_closed,
            "invoices": None
            if self.invoices is None
            else {
                "issued": [record.number for record in self.invoices.issued],
                "already_final": self.invoices.already_final,
                "rendered": self.invoices.rendered,
            },
            "orphans_removed": self.orphans,
            "timings_s": {step: round(t, 4) for step, t in self.timings.items()},
            "cpu_s": {step: round(t, 4) for step, t in self.cpu_timings.items()},
        }


class Stopwatch:
    """Wall time and CPU time (all threads) per named step; repeated steps add up.

    On a busy machine wall times swell with other processes' load while CPU times hardly
    move, so both are recorded.
    """

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began, began_cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - began
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - began_cpu


def new_run_id() -> str:
    """Sortable and unique: the start time (UTC) and a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_batch(
    settings: Settings, request: RunRequest, progress: Progress | None = None
) -> RunReport:
    """Do one run (see the module docstring) and report what it did.

    Raises:
        UsageError: bad options (exit 2); ConfigError: bad sheets or accounts (exit 2);
        InputError: an inbox file that cannot be read (exit 3); LockHeldError: another
        run is in progress (exit 75).
    """
    if request.period is not None:
        check_period(request.period)
    if request.close and request.period is None:
        raise UsageError("--close needs --period YYYY-MM: the billing period to close")
    data = DataDir(settings.paths.data_dir)
    stopwatch = Stopwatch()
    report = RunReport(run_id=new_run_id(), dry_run=request.dry_run, started=_now())
    with stopwatch.step("lock"):
        lock = RunLock(data.root, shared=request.dry_run)
        lock.acquire()
    try:
        with stopwatch.step("ledger"):
            ledger = open_ledger(settings, private=request.dry_run)
        with ledger:
            batch = _Batch(settings, request, data, ledger, stopwatch, report, progress)
            try:
                batch.execute()
            except Exception as exc:
                if not request.dry_run:
                    batch.record_failure(exc)
                raise
            if not request.dry_run:
                with stopwatch.step("backup"):
                    report.backup = rotate_backups(settings, ledger)
    finally:
        lock.release()
    report.timings, report.cpu_timings = dict(stopwatch.timings), dict(stopwatch.cpu)
    return report


class _Batch:
    """The state of one run while it executes."""

    def __init__(
        self,
        settings: Settings,
        request: RunRequest,
        data: DataDir,
        ledger: Ledger,
        stopwatch: Stopwatch,
        report: RunReport,
        progress: Progress | None,
    ) -> None:
        self.settings = settings
        self.request = request
        self.data = data
        self.ledger = ledger
        self.stopwatch = stopwatch
        self.report = report
        self.progress = progress or (lambda _what, _done, _total: None)
        self.references: dict[str, Any] = {}
        self.loaded: LoadedPlan | None = None
        # Rated files this run has written so far (slices after them check against them).
        self.written: list[PartitionFile] = []
        # The sha256 of each file this run wrote, by path in the data directory.
        self.checksums: dict[str, str] = {}
        # The store files this run's journal names, and the journal once written.
        self.journaled: list[str] = []
        self.journal: Journal | None = None

    def execute(self) -> None:
        report, step, dry = self.report, self.stopwatch.step, self.request.dry_run
        with step("cleanup"):
            self.remove_orphans()
            if not dry:
                finish_voids(self.settings, self.ledger)
        checkpoint("orphans-removed")
        with step("plan"):
            plan, options = self.load_plan()
        with step("hash"):
            candidates = self.scan_inbox()
        closed = self.ledger.closed_periods()
        stored: list[StoredPiece] = []
        for group in file_groups(candidates):
            stored += self.ingest_slice(group, plan, options, closed)
        if not dry:
            checkpoint("partitions-written")
        with step("summary"):
            totals = self.count(stored, plan)
            partitions = self.describe_partitions(stored)
        if self.request.close and self.request.period is not None:
            report.close = self.request.period
            report.already_closed = self.request.period in closed
            self.warn_if_open_ended(self.request.period)
        if dry:
            report.finished = _now()
            return
        with step("manifest"):
            self.write_manifest(status="ok", exit_status=0)
        checkpoint("manifest-written")
        with step("ledger"):
            self.ledger.record_run(
                self.run_record("ok", 0),
                files=[self.ingested(file, partitions) for file in report.new],
                partitions=partitions,
                totals=totals,
                close=None if report.already_closed else report.close,
            )
        mark_verified(self.ledger, partitions)  # hashed when written: not again to close
        checkpoint("ledger-committed")
        if report.close is not None:
            # Also when the period was already closed: a close killed half way finishes.
            with step("invoices"):
                assert self.loaded is not None
                setup = setup_from(self.settings, report.close, self.loaded)
                report.invoices = close_period(
                    self.settings, self.ledger, report.close, setup=setup
                )
        with step("manifest"):
            self.write_manifest(status="ok", exit_status=0)
        if self.journal is not None:
            clear_journal(self.journal)

    def ingest_slice(
        self,
        group: list[InboxFile],
        plan: RatingPlan,
        options: InputOptions,
        closed: set[str],
    ) -> list[StoredPiece]:
        """Rate one slice of the new files and write its store files (not in a dry run);
        return what was written. A call already written by an earlier slice of this run
        is a duplicate as if it were stored."""
        step = self.stopwatch.step
        results = self.rate(group, plan, options)
        if results is None:
            return []
        ingested = [file for file in group if file in self.report.new]
        with step("periods"):
            zone = self.settings.billing.timezone
            rated, rejects = (
                frame.with_columns(period_of(frame.get_column("start"), zone)) for frame in results
            )
        with step("duplicates"):
            rated, moved = self.move_stored_and_closed(rated, closed)
        with step("rejects"):
            rejects = finish_rejects(rejects, moved)
        with step("summary"):
            pieces = [*_pieces("rated", rated, ingested), *_pieces("rejects", rejects, ingested)]
            del rated, rejects, moved
            summaries = [StoredPiece.of(piece) for piece in pieces]
        if not self.request.dry_run:
            with step("write"):
                self.write_journal(
                    self.data.relative(self.data.partition(p.kind, p.period, p.sha256))
                    for p in pieces
                )
                self.write_partitions(pieces)
            self.written += self.describe_partitions(p for p in summaries if p.kind == "rated")
        return summaries

    def remove_orphans(self) -> None:
        recorded = {partition.path for partition in self.ledger.partition_files()}
        dry = self.request.dry_run
        left = [*journals(self.data, "run"), *journals(self.data, "rerate")]
        named = [entry for journal in left for entry in journal.entries]
        orphans = remove_orphans(self.data, recorded, self.ledger.run_ids(), named, dry_run=dry)
        if not dry:
            for journal in left:
                clear_journal(journal)
        self.report.orphans = orphans
        if orphans:
            log.warning(
                "%s %d files left by an interrupted run: %s",
                "would remove" if dry else "removed",
                len(orphans),
                ", ".join(orphans),
            )

    def load_plan(self) -> tuple[RatingPlan, InputOptions]:
        paths = self.settings.paths
        self.loaded = load_plan(self.settings)
        self.references = {
            "config": file_reference(self.settings.source),
            "sheets": self.loaded.sheet_files,
            "accounts": None if paths.accounts is None else file_reference(paths.accounts),
            "fees": (
                file_reference(paths.fees)
                if paths.fees is not None and paths.fees.is_file()
                else None
            ),
        }
        return self.loaded.plan, input_options(self.settings)

    def scan_inbox(self) -> list[InboxFile]:
        """The new files, in name order; skipped ones go to the report."""
        new, skipped = scan_inbox(self.settings, self.ledger, self.progress)
        self.report.skipped += skipped
        return new

    def rate(
        self, candidates: list[InboxFile], plan: RatingPlan, options: InputOptions
    ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Rated calls and rejects of the new files; ``None`` when there is nothing to
        ingest. Sets ``report.new`` to the files ingested."""
        with self.stopwatch.step("rate"):
            if not candidates:
                return None
            self.progress(f"rating {len(candidates)} files", 0, 0)
            outcome = self._outcome(candidates, plan, options)
            new = candidates
            if self.request.period is not None:
                outcome, new = self._only_period(outcome, candidates, plan, options)
            self.report.new += new
            if not new:
                return None
            return split_outcome(outcome)

    def _outcome(
        self, files: Sequence[InboxFile], plan: RatingPlan, options: InputOptions
    ) -> pl.DataFrame:
        fmt = self.settings.input.format
        paths = [file.path for file in files]
        try:
            return rate_lazy(paths, plan, fmt, options).collect()
        except READ_FAILURES as exc:
            raise unreadable_input(paths, fmt) or InputError(
                f"{self.settings.paths.inbox}: reading the new files failed: "
                f"{str(exc).strip().splitlines()[0]}"
            ) from exc

    def _only_period(
        self, outcome: pl.DataFrame, new: list[InboxFile], plan: RatingPlan, options: InputOptions
    ) -> tuple[pl.DataFrame, list[InboxFile]]:
        """Keep the files that have a call in the requested period; rate them again alone
        when others are left out, so that no call is compared with a file not ingested."""
        period = self.request.period
        assert period is not None
        periods = period_of(outcome.get_column("start"), self.settings.billing.timezone)
        wanted = set(outcome.get_column("file").filter(periods == period).unique().to_list())
        keep = [file for file in new if str(file.path) in wanted]
        for file in new:
            if str(file.path) not in wanted:
                why = f"no call in period {period}; a run without --period ingests it"
                log.debug("left %s in the inbox: %s", file.name, why)  # run --verbose
                self.report.deferred.append(SkippedFile(file.name, file.sha256, why))
        if len(keep) == len(new) or not keep:
            return outcome, keep
        return self._outcome(keep, plan, options), keep

    def move_stored_and_closed(
        self, rated: pl.DataFrame, closed: set[str]
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        stored = self._stored_duplicates(rated)
        self.report.duplicates_stored += stored.height
        periods = set(rated.get_column("_period").unique().to_list())
        blocked = set() if self.request.allow_closed else closed & periods
        return move_stored_and_closed(rated, stored, blocked)

    def _stored_duplicates(self, rated: pl.DataFrame) -> pl.DataFrame:
        """``_row`` of each rated call whose call_id is stored in its period, or in the
        adjacent one when its start is within ``[input] duplicate_window`` of the
        boundary (and of the stored call's start); with where (``_stored_in``,
        ``_stored_period``)."""
        none = pl.DataFrame(
            schema={"_row": pl.UInt32, "_stored_in": pl.String, "_stored_period": pl.String}
        )
        if rated.is_empty():
            return none
        new = rated.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
            "call_id",
            "start",
            "_period",
            call_hash(pl.col("call_id")),
        )
        window = self.settings.input.duplicate_window
        checked = periods_to_check(new, window, self.settings.billing.timezone)
        periods = sorted(checked.get_column("_check").unique().to_list())
        recorded = self.ledger.partition_files("rated", periods)
        stored = [*recorded, *(p for p in self.written if p.period in periods)]
        if not stored:
            return none
        stale = self.stale_indexes(recorded)
        paths = [self.data.root / partition.path for partition in stored]
        missing = [path for path in paths if not path.is_file()]
        if missing:
            raise missing_file(missing[0])
        hits = call_index_hits(
            self.data,
            paths,
            new.get_column("call_hash"),
            stale=stale,
            repair=not self.request.dry_run,
        )
        if not self.request.dry_run and stale:
            rebuilt = [self.data.index_of(path) for path in stale]
            record_partition_checksums(
                self.ledger,
                index_checksums={
                    self.data.relative(partition): checksum
                    for partition, checksum in zip(stale, files_sha256(rebuilt), strict=True)
                    if checksum is not None
                },
            )
        if hits.is_empty():
            return none
        where = pl.DataFrame(
            {"partition": [p.path for p in stored], "_check": [p.period for p in stored]}
        )
        candidates = checked.join(hits.join(where, on="partition"), on=["call_hash", "_check"])
        if candidates.is_empty():
            return none
        compared = set(candidates.get_column("partition").to_list())
        verify_stored(self.ledger, self.data, [p for p in recorded if p.path in compared])
        # Equal hashes are only candidates: compare the call_ids themselves, and, across
        # a period boundary, the starts.
        stored_ids = pl.concat(
            [
                pl.scan_parquet(self.data.root / partition)
                .select("call_id", pl.col("start").alias("_stored_start"))
                .filter(pl.col("call_id").is_in(candidates.get_column("call_id").implode()))
                .with_columns(partition=pl.lit(partition))
                for partition in candidates.get_column("partition").unique().sort()
            ]
        ).collect()
        same_period = pl.col("_check") == pl.col("_period")
        near = (pl.col("start") - pl.col("_stored_start")).abs() <= window
        return (
            candidates.join(stored_ids, on=["call_id", "partition"])
            .filter(same_period | near)
            .group_by("_row")
            .agg(
                pl.col("partition").min().alias("_stored_in"),
                pl.col("_check").sort_by("partition").first().alias("_stored_period"),
            )
            .sort("_row")
        )

    def stale_indexes(self, partitions: Sequence[PartitionFile]) -> list[Path]:
        """The rated files of ``partitions`` whose call index must be rebuilt (damaged,
        with a warning, or without a checksum yet). These, and those whose index is
        missing, are verified first, so that an index is never rebuilt from a damaged
        file."""
        damaged, unrecorded, missing = stale_indexes(self.data, partitions)
        for path in damaged:
            log.warning(
                "%s: call index damaged (its sha256 differs from the ledger's); rebuilding "
                "it from %s",
                self.data.index_of(path),
                path,
            )
        stale = {*damaged, *unrecorded}
        read = {*stale, *missing}
        verify_stored(
            self.ledger, self.data, [p for p in partitions if self.data.root / p.path in read]
        )
        return sorted(stale)

    def count(self, pieces: Sequence[StoredPiece], plan: RatingPlan) -> list[FileTotal]:
        """Fill in the report's counts and totals; return the totals per file and period."""
        found = count(pieces, plan, self.report.duplicates_stored)
        report = self.report
        report.read, report.rated, report.rejected = found.read, found.rated, found.rejected
        report.rejected_by_reason = found.rejected_by_reason
        report.duplicates_in_input = found.duplicates_in_input
        report.periods = found.periods
        report.totals = found.totals
        return found.file_totals

    def warn_if_open_ended(self, period: str) -> None:
        _, end = period_bounds(period, self.settings.billing.timezone)
        if datetime.now(UTC) < end:
            log.warning("closing %s before it has ended (it ends at %s)", period, end.isoformat())

    def describe_partitions(self, pieces: Iterable[StoredPiece]) -> list[PartitionFile]:
        """The ledger rows of the files this run writes."""
        return [
            with_checksums(
                self.data,
                PartitionFile(
                    self.data.relative(self.data.partition(p.kind, p.period, p.sha256)),
                    p.sha256,
                    p.kind,
                    p.period,
                    p.rows,
                ),
                self.checksums,
            )
            for p in pieces
        ]

    def write_journal(self, partitions: Iterable[str] = ()) -> None:
        """Name the files this run is about to write in its journal: its manifest and,
        added to those of earlier slices, ``partitions`` (relative paths)."""
        self.journaled += partitions
        manifest = self.data.relative(self.data.manifest(self.report.run_id))
        self.journal = write_journal(
            self.data, "run", self.report.run_id, [manifest, *self.journaled]
        )
        checkpoint("journal-written")

    def write_partitions(self, pieces: Sequence[Piece]) -> None:
        written: list[Path] = []
        for done, piece in enumerate(pieces, start=1):
            path = self.data.partition(piece.kind, piece.period, piece.sha256)
            written += write_piece(self.data, path, piece)
            self.progress("writing the store", done, len(pieces))
            checkpoint("partition-written")
        sync_directories(written)  # once per folder, before the ledger refers to them
        self.checksums |= checksums_of(self.data, written)

    def ingested(self, file: InboxFile, partitions: Sequence[PartitionFile]) -> IngestedFile:
        rows: dict[str, int] = dict.fromkeys(KINDS, 0)
        for partition in partitions:
            if partition.sha256 == file.sha256:
                rows[partition.kind] += partition.rows
        return IngestedFile(
            sha256=file.sha256,
            path=file.name,
            size=file.size,
            mtime_ns=file.mtime_ns,
            run_id=self.report.run_id,
            rows=rows["rated"] + rows["rejects"],
            rated=rows["rated"],
            rejected=rows["rejects"],
            ingested_at=self.report.started,
        )

    def run_record(self, status: str, exit_status: int, error: str | None = None) -> RunRecord:
        report = self.report
        return RunRecord(
            run_id=report.run_id,
            started_at=report.started,
            finished_at=report.finished or _now(),
            status=status,
            exit_status=exit_status,
            files_new=len(report.new),
            files_skipped=len(report.skipped),
            read=report.read,
            rated=report.rated,
            rejected=report.rejected,
            duplicates=report.duplicates_in_input + report.duplicates_stored,
            manifest=self.data.relative(self.data.manifest(report.run_id)),
            error=error,
        )

    def write_manifest(self, status: str, exit_status: int, error: str | None = None) -> None:
        if self.journal is None:
            self.write_journal()
        report = self.report
        report.finished = _now()
        report.timings, report.cpu_timings = dict(self.stopwatch.timings), dict(self.stopwatch.cpu)
        report.manifest = self.data.manifest(report.run_id)
        manifest = {
            **report.as_dict(),
            "status": status,
            "exit_status": exit_status,
            "error": error,
            "request": vars(self.request),
            "data_dir": str(self.data.root),
            "inbox": str(self.settings.paths.inbox),
            "references": self.references,
        }
        write_json(manifest, report.manifest)

    def record_failure(self, exc: Exception) -> None:
        """Leave a trace of a failed run: a ``failed`` row in the ledger and its manifest.

        The ledger first, and each on its own: when the disk is full the manifest may
        not be written, and the ledger must still not say the run was ok. Files the run
        may have written are named in its journal; the next run removes them.
        """
        exit_status = int(getattr(exc, "exit_code", 1))
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        try:
            if self.report.run_id in self.ledger.run_ids():
                # Ingested and committed; what failed came after (closing the period).
                self.ledger.mark_run_failed(self.report.run_id, exit_status, error)
            else:
                self.ledger.record_run(self.run_record("failed", exit_status, error))
        except Exception as secondary:  # the original error matters more
            log.warning("could not record the failed run in the ledger: %s", secondary)
        try:
            self.write_manifest("failed", exit_status, error)
        except Exception as secondary:
            log.warning("could not write the failed run's manifest: %s", secondary)


def move_stored_and_closed(
    rated: pl.DataFrame, stored: pl.DataFrame, blocked: set[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off the rated calls already stored (``duplicate``: the ``_row`` of each in
    ``stored``, with ``_stored_in``, the file, and ``_stored_period``, its period) and those in a
    ``blocked`` (closed) period (``closed_period``); return ``(kept, moved)``.

    The moved rows carry ``_reason`` and ``_detail`` (their reject message)."""
    if stored.is_empty() and not blocked:  # the usual night: nothing to move, no copy
        none = pl.lit(None, pl.String)
        return rated, rated.clear().with_columns(_reason=none, _detail=none)
    where = [
        pl.Series(name, [None] * rated.height, dtype=pl.String).scatter(
            stored.get_column("_row"), stored.get_column(name)
        )
        for name in ("_stored_in", "_stored_period")
    ]
    marked = rated.with_columns(where).with_columns(
        _reason=pl.when(pl.col("_stored_in").is_not_null())
        .then(pl.lit(Reason.DUPLICATE.value))
        .when(pl.col("_period").is_in(sorted(blocked)))
        .then(pl.lit(Reason.CLOSED_PERIOD.value)),
    )
    detail = (
        pl.when(pl.col("_reason") == Reason.DUPLICATE.value)
        .then(
            pl.format(
                "call_id '{}' is already stored for period {} ({}); a call is never billed twice",
                pl.col("call_id"),
                pl.col("_stored_period"),
                pl.col("_stored_in"),
            )
        )
        .otherwise(
            pl.format(
                "billing period {} is closed; pass --allow-closed to add late calls to it",
                pl.col("_period"),
            )
        )
    )
    moved = marked.filter(pl.col("_reason").is_not_null()).with_columns(_detail=detail)
    kept = marked.filter(pl.col("_reason").is_null()).drop(
        "_stored_in", "_stored_period", "_reason"
    )
    return kept, moved.drop("_stored_in", "_stored_period")


def periods_to_check(calls: pl.DataFrame, window: timedelta, timezone: str) -> pl.DataFrame:
    """``calls`` (with ``start`` and ``_period``) paired with each period whose stored
    calls they are checked against (``_check``): their own, and the adjacent one for a
    start within ``window`` of the boundary, where a re-sent call with a slightly
    different start may have been stored."""
    start = calls.get_column("start")
    adjacent = [
        calls.with_columns(_check=period_of(start + shift, timezone)).filter(
            pl.col("_check") != pl.col("_period")
        )
        for shift in (-window, window)
        if window
    ]
    return pl.concat([calls.with_columns(_check=pl.col("_period")), *adjacent])


def finish_rejects(rejects: pl.DataFrame, moved: pl.DataFrame) -> pl.DataFrame:
    """All rejects with their message, input line and ``_period``, in input order."""
    moved = moved.select(
        pl.col(name) if name in moved.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in rejects.schema.items()
        if name != "reason"
    ).with_columns(reason=moved.get_column("_reason"))
    combined = pl.concat([rejects, moved.select(rejects.columns)], how="vertical_relaxed")
    combined = with_messages(combined).sort("file", "line", maintain_order=True)
    rerateable = pl.col("reason").is_in(RERATEABLE)
    periods = combined.select(
        "file",
        "line",
        "_period",
        # The engine's rejects carry duration_ms; the store keeps duration_s.
        *(
            pl.when(rerateable).then(pl.col(name)).alias(name)
            for name in RERATE_FIELDS
            if name != "duration_s"
        ),
        pl.when(rerateable).then(pl.col("duration_ms")).alias("duration_ms"),
    )
    return attach_raw(combined).join(
        periods, on=["file", "line"], how="left", maintain_order="left", nulls_equal=True
    )


@dataclass(frozen=True)
class Counts:
    """What a run's store files hold: the reconciliation and the totals."""

    read: int
    rated: int
    rejected: int
    rejected_by_reason: dict[str, int]
    duplicates_in_input: int
    periods: list[str]
    totals: dict[str, CurrencyTotal]
    file_totals: list[FileTotal]


def count(pieces: Sequence[StoredPiece], plan: RatingPlan, duplicates_stored: int) -> Counts:
    """The counts and totals of ``pieces``; ``duplicates_stored`` of the duplicates were
    stored before (the rest repeat a call of the new files)."""
    rated = sum(piece.rows for piece in pieces if piece.kind == "rated")
    rejected = sum(piece.rows for piece in pieces if piece.kind == "rejects")
    reasons: dict[str, int] = {}
    for piece in pieces:
        for reason, rows in piece.reasons:
            reasons[reason] = reasons.get(reason, 0) + rows
    by_reason = dict(sorted(reasons.items(), key=lambda r: (-r[1], r[0])))
    file_totals = [total for piece in pieces for total in piece.totals]
    decimals = plan.currency_decimals()
    totals = {}
    for currency in sorted({total.currency for total in file_totals}):
        mine = [total for total in file_totals if total.currency == currency]
        totals[currency] = CurrencyTotal(
            sum(total.calls for total in mine),
            sum(total.billable_s for total in mine),
            format_amount(sum((total.charge for total in mine), Decimal(0)), decimals[currency]),
        )
    return Counts(
        read=rated + rejected,
        rated=rated,
        rejected=rejected,
        rejected_by_reason=by_reason,
        duplicates_in_input=by_reason.get(Reason.DUPLICATE.value, 0) - duplicates_stored,
        periods=sorted({piece.period for piece in pieces}),
        totals=totals,
        file_totals=file_totals,
    )


@dataclass(frozen=True)
class StoredPiece:
    """What a piece of the store holds, once written: its rows, rejects by reason and
    totals (so that a slice's frames can go)."""

    kind: Kind
    sha256: str
    period: str
    rows: int
    reasons: tuple[tuple[str, int], ...]
    totals: tuple[FileTotal, ...]

    @classmethod
    def of(cls, piece: Piece) -> StoredPiece:
        frame = piece.frame
        if piece.kind == "rejects":
            counted = frame.group_by("reason").len().sort("reason")
            reasons = tuple((str(r), int(n)) for r, n in counted.iter_rows())
            return cls(piece.kind, piece.sha256, piece.period, frame.height, reasons, ())
        totals = tuple(file_totals(frame, piece.sha256, piece.period))
        return cls(piece.kind, piece.sha256, piece.period, frame.height, (), totals)


def file_totals(rated: pl.DataFrame, sha256: str, period: str) -> list[FileTotal]:
    """The ledger's totals of one store file of rated calls: calls, billable seconds
    and exact charge per currency (a row per currency, not per call)."""
    grouped = (
        rated.group_by("currency")
        .agg(pl.len(), pl.col("billable_s").sum(), pl.col("charge").sum())
        .sort("currency")
    )
    return [
        FileTotal(sha256, period, currency, calls, billable, Decimal(charge))
        for currency, calls, billable, charge in grouped.iter_rows()
    ]


# Rows of new files rated together: the same bound as ``cdr-rating rate``'s slices.
SLICE_ROWS = PIPELINE_SLICE_ROWS


def file_groups(files: Sequence[InboxFile], slice_rows: int | None = None) -> list[list[InboxFile]]:
    """The new files in groups of about ``slice_rows`` rows, in name order, rated one
    group at a time so that a night of any size fits in memory. A file is never cut (its
    store files are named after it); a larger one is a group of its own."""
    limit = slice_rows or SLICE_ROWS
    groups: list[list[InboxFile]] = [[]]
    filled = 0
    for file in files:
        rows = estimated_rows(file.path)
        if groups[-1] and filled + rows > limit:
            groups.append([])
            filled = 0
        groups[-1].append(file)
        filled += rows
    return [group for group in groups if group]


def scan_inbox(
    settings: Settings, ledger: Ledger, progress: Progress
) -> tuple[list[InboxFile], list[SkippedFile]]:
    """The inbox's new files (hashed, in name order) and those skipped: already ingested
    (same name, size and time, or the same content), or repeating another new file."""
    ingested = ledger.ingested_files()
    unchanged = {(f.path, f.size, f.mtime_ns): f for f in ingested.values()}
    skipped: list[SkippedFile] = []
    to_hash: list[InboxFile] = []
    for file in _list_inbox(settings):
        known = unchanged.get((file.name, file.size, file.mtime_ns))
        if known is None:
            to_hash.append(file)
        else:
            why = f"already ingested by run {known.run_id}"
            skipped.append(SkippedFile(file.name, known.sha256, why))
    new: list[InboxFile] = []
    first_of: dict[str, str] = {}
    for file in _hashed(to_hash, progress):
        before = ingested.get(file.sha256)
        if before is not None:
            why = f"same content as {before.path}, ingested by run {before.run_id}"
        elif file.sha256 in first_of:
            why = f"same content as {first_of[file.sha256]} in this run"
        else:
            first_of[file.sha256] = file.name
            new.append(file)
            continue
        log.debug("skipped %s: %s", file.name, why)  # listed by run --verbose
        skipped.append(SkippedFile(file.name, file.sha256, why))
    return new, skipped


def _hashed(files: Sequence[InboxFile], progress: Progress) -> list[InboxFile]:
    """``files`` with their sha256, hashed in a few threads (hashing reads the disk)."""
    done: list[InboxFile] = []
    progress("hashing inbox files", 0, len(files))
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for file, digest in zip(files, pool.map(lambda f: file_sha256(f.path), files), strict=True):
            done.append(InboxFile(file.path, file.name, file.size, file.mtime_ns, sha256=digest))
            progress("hashing inbox files", len(done), len(files))
    return done


def _list_inbox(settings: Settings) -> list[InboxFile]:
    """The CDR files of the inbox (by pattern, minus hidden, accounts and fees files)."""
    paths = settings.paths
    if not paths.inbox.is_dir():
        raise InputError(f"{paths.inbox}: inbox directory not found (paths.inbox)")
    excluded = {path for path in (paths.accounts, paths.fees) if path is not None}
    found = {
        path
        for pattern in paths.inbox_patterns
        for path in paths.inbox.glob(pattern)
        if not path.name.startswith(".") and path.is_file() and path.resolve() not in excluded
    }
    files = []
    for path in sorted(found):
        try:
            status = path.stat()
        except OSError as exc:
            raise InputError(f"{path}: cannot read it: {exc.strerror}") from exc
        name = path.relative_to(paths.inbox).as_posix()
        files.append(InboxFile(path, name, status.st_size, status.st_mtime_ns))
    return files


def _pieces(kind: Kind, frame: pl.DataFrame, new: Sequence[InboxFile]) -> list[Piece]:
    """``frame`` cut into one piece per input file and period, in input order, with
    ``file`` as the path inside the inbox (so that the store does not depend on where
    the inbox is mounted).

    Rows of one file are contiguous (input order), so pieces are zero-copy slices; only a
    file whose calls fall in several periods is filtered. The frame is made contiguous
    first: its columns come in differently many chunks, which makes any later column
    change and the Parquet writer slower than one copy up front.
    """
    by_path = {str(file.path): file for file in new}
    frame = frame.rechunk().with_columns(
        pl.col("file").replace_strict(
            {path: file.name for path, file in by_path.items()}, return_dtype=pl.String
        )
    )
    by_name = {file.name: file for file in new}
    runs = frame.select(pl.col("file").rle()).unnest("file")
    if runs.get_column("value").is_unique().all():
        starts = runs.get_column("len").cum_sum() - runs.get_column("len")
        parts = [
            frame.slice(start, length)
            for start, length in zip(starts, runs.get_column("len"), strict=True)
        ]
    else:
        parts = frame.partition_by("file", maintain_order=True)
    pieces: list[Piece] = []
    for part in parts:
        sha256 = by_name[part.get_column("file")[0]].sha256
        periods = part.get_column("_period").unique(maintain_order=True).to_list()
        split = (
            {(periods[0],): part}
            if len(periods) == 1
            else part.partition_by("_period", maintain_order=True, as_dict=True)
        )
        pieces += [
            Piece(kind, sha256, str(period), piece.drop("_period"))
            for (period,), piece in split.items()
        ]
    return pieces


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
