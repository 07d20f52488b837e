"""Re-rating a stored period and settling it with credit and debit notes.

``rerate_period`` prices the period's stored calls again, and its stored ``no_rate`` and
``unknown_account`` rejects (a corrected sheet or accounts file may rate them now), with
the current sheets or those of ``--sheets``, and re-applies the period rules
(allowances from scratch, fees, commitments, taxes). It works a slice of accounts at a
time (``jobs.month``): the stored rejects are priced once first, so that a reject that
now rates joins the slice of the account it now has. Per account it compares what was
billed with what the re-rated calls bill (``billing.rerate.compare``). Nothing is
written unless ``apply_rerate`` is called, which, in order:

1. has re-rated the period into a spill folder (``.rerate-<id>/`` in the data
   directory: each slice's new rows);
2. writes the new version of every affected store file under a new name, and copies
   the old ones to ``audit/<rerate_id>/``;
3. in one transaction: points the ledger at the new files (and their totals), issues a
   credit note (``CN-…``) or debit note (``DN-…``) for every finally-invoiced account
   whose total changed, citing the invoice and listing the per-line differences and
   the tax effect, and records the re-rating with the sheets before and after;
4. removes the old files from the store and the spill folder, and renders the notes.

Before step 2 the apply names in its journal the files it may write and those it
replaces (``cdr_rating.store.journal``), and removes the journal at the end. Killed
before step 3 commits, nothing has changed (the new files, which the journal names, and
the spill folder are orphans that the next run removes); after it, the old files are
(their audit copies are kept), and notes without PDFs are rendered by the next apply or
close. Applying
the same correction twice finds no difference and issues nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cdr_rating.billing.document import InvoiceDocument
from cdr_rating.billing.documents import build_document
from cdr_rating.billing.period import bill_period
from cdr_rating.billing.rerate import (
    AccountChange,
    RerateResult,
    changes,
    compare,
    engine_input,
    note_bill,
    retryable,
)
from cdr_rating.config import Settings
from cdr_rating.faults import checkpoint
from cdr_rating.jobs.books import existing_ledger
from cdr_rating.jobs.close import (
    CALL_COLUMNS,
    accounts_by_bucket,
    check_templates,
    render_missing,
)
from cdr_rating.jobs.invoices import finish_voids
from cdr_rating.jobs.month import (
    StoredMonth,
    in_bucket,
    month_slices,
    relative_source,
    spill_folder,
)
from cdr_rating.jobs.nightly import file_totals
from cdr_rating.jobs.setup import BillingSetup, billing_setup, issuer, now
from cdr_rating.jobs.verify import checksums_of, with_checksums
from cdr_rating.ledger import Ledger, PartitionFile
from cdr_rating.ledger.invoices import Draft, find_invoice
from cdr_rating.ledger.rerates import (
    NoteRequest,
    ReplacedFile,
    RerateRecord,
    billed_lines,
    commit_rerate,
    invoiced_totals,
)
from cdr_rating.names import output_path
from cdr_rating.permissions import make_directories
from cdr_rating.rating.engine import rate_outcome, rated_columns, reject_columns
from cdr_rating.rejects import with_messages
from cdr_rating.store import (
    KINDS,
    MONEY,
    RATED,
    REJECTS,
    DataDir,
    Journal,
    Kind,
    Piece,
    RunLock,
    as_rejects,
    clear_journal,
    conform,
    scan_stored,
    sync_directories,
    write_frame,
    write_journal,
    write_json,
    write_piece,
)


@dataclass
class Spill:
    """Where a re-rating for apply keeps each slice's new rows (``_from``: the store
    file each came from; ``_origin``: whether it was rated or a reject before)."""

    folder: Path
    rated: list[Path] = field(default_factory=list)
    rejects: list[Path] = field(default_factory=list)

    def add(self, bucket: int, rated: pl.DataFrame, rejects: pl.DataFrame) -> None:
        for kind, frame, found in (
            ("rated", rated, self.rated),
            ("rejects", rejects, self.rejects),
        ):
            if frame.height:
                path = self.folder / f"{kind}-{bucket:04d}.parquet"
                frame.write_parquet(path)
                found.append(path)


def rerate_period(
    settings: Settings,
    ledger: Ledger,
    period: str,
    *,
    account: str | None = None,
    sheets_dir: Path | None = None,
    spill: Spill | None = None,
    slice_calls: int | None = None,
) -> RerateResult:
    """Re-rate ``period`` (or one account of it) and compare the bills. Writes nothing
    but, given a ``spill``, each slice's new rows there (for ``apply_rerate``)."""
    data = DataDir(settings.paths.data_dir)
    before = billing_setup(settings, period)
    after = billing_setup(settings, period, sheets_dir) if sheets_dir else before
    month = StoredMonth.of(ledger, data, period)
    invoiced = invoiced_totals(ledger, period)
    retry, retried = _retried(month, account, after)
    buckets = 1 if account is not None else month.slices(slice_calls)
    if account is not None:
        by_bucket = {0: [account]}
    else:
        names = [
            *before.rules.accounts.get_column("account").to_list(),
            *after.rules.accounts.get_column("account").to_list(),
            *invoiced,
        ]
        by_bucket = accounts_by_bucket(sorted(set(names)), buckets)
    found: list[AccountChange] = []
    changed: list[pl.DataFrame] = []
    touched: set[str] = set()
    calls = retry.height
    with month_slices(month, buckets=buckets) as slices:
        for bucket in range(buckets):
            scope = pl.col("account") == account if account else in_bucket(bucket, buckets)
            old = (slices.calls(0).filter(scope) if account else slices.calls(bucket)).collect()
            calls += old.height
            rescued = retried.filter(pl.col("_reason").is_null() & scope).get_column("_retry")
            retry_here = retry.filter(pl.col("_retry").is_in(rescued.implode()))
            outcome = _priced(engine_input(old, retry_here), after)
            rated = outcome.filter(pl.col("_reason").is_null())
            lost = outcome.filter(pl.col("_reason").is_not_null())
            slice_changes = changes(old, retry_here, rated)
            changes_here = compare(
                invoiced,
                by_bucket[bucket],
                (before.rules, before.plan, old.select(CALL_COLUMNS)),
                (after.rules, after.plan, rated.select(CALL_COLUMNS)),
                slice_changes,
            )
            if spill is not None:
                changes_here = _with_note_lines(changes_here, rated.select(CALL_COLUMNS), after)
                spill.add(bucket, rated, lost)
            found += changes_here
            changed.append(slice_changes)
            touched |= set(rated.get_column("_from").to_list()) | set(
                lost.get_column("_from").to_list()
            )
            del old, outcome, rated, lost
    return RerateResult(
        period=period,
        account=account,
        accounts=sorted(found, key=lambda change: change.account),
        changes=pl.concat(changed).sort("account", "start", "call_id"),
        calls=calls,
        sheets_before=before.references,
        sheets_after=after.references,
        slices=buckets,
        touched=sorted(touched),
    )


def _retried(
    month: StoredMonth, account: str | None, setup: BillingSetup
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stored rejects that may rate now (``_retry`` numbers them) and how the new
    sheets price them: the account they now rate for says which slice they join."""
    stored = relative_source(month.stored_rejects(with_source=True).collect(), month.data)
    retry = retryable(stored, account).with_row_index("_retry")
    return retry, _priced(engine_input(pl.DataFrame(schema=RATED), retry), setup)


def _priced(inputs: pl.DataFrame, setup: BillingSetup) -> pl.DataFrame:
    return (
        rate_outcome(inputs.lazy(), setup.plan).with_columns(pl.col("charge").cast(MONEY)).collect()
    )


def _with_note_lines(
    found: list[AccountChange], rated: pl.DataFrame, setup: BillingSetup
) -> list[AccountChange]:
    """The changes that need a note get their new bill line by line."""
    noted = [c.account for c in found if c.invoice is not None and c.difference != 0]
    if not noted:
        return found
    bills = bill_period(rated, setup.rules, setup.plan, noted)
    return [
        dataclasses.replace(c, after=bills.bill_of(c.account)) if c.account in noted else c
        for c in found
    ]


@dataclass
class ApplyReport:
    rerate_id: str
    notes: list[str] = field(default_factory=list)
    files_replaced: int = 0
    manifest: str | None = None


def rerate(
    settings: Settings,
    period: str,
    *,
    account: str | None = None,
    sheets_dir: Path | None = None,
    apply_reason: str | None = None,
) -> tuple[RerateResult, ApplyReport | None]:
    """``cdr-rating rerate``: a preview on a snapshot of the ledger, or, with
    ``apply_reason``, the re-rating applied under the run lock."""
    data = DataDir(settings.paths.data_dir)
    if apply_reason is None:
        with existing_ledger(settings) as ledger:
            return rerate_period(
                settings, ledger, period, account=account, sheets_dir=sheets_dir
            ), None
    with RunLock(data.root), existing_ledger(settings, private=False) as ledger:
        finish_voids(settings, ledger)
        return rerate_and_apply(
            settings, ledger, period, apply_reason, account=account, sheets_dir=sheets_dir
        )


def write_changes(result: RerateResult, path: Path) -> None:
    """Every changed call to a CSV or Parquet file (by its extension), atomically."""
    write_frame(result.changes, path)


def rerate_and_apply(
    settings: Settings,
    ledger: Ledger,
    period: str,
    reason: str,
    *,
    account: str | None = None,
    sheets_dir: Path | None = None,
    today: dt.date | None = None,
    slice_calls: int | None = None,
) -> tuple[RerateResult, ApplyReport]:
    """Re-rate ``period`` and commit it (see the module docstring). The caller holds
    the run lock."""
    data = DataDir(settings.paths.data_dir)
    check_templates(settings)
    with spill_folder(data) as folder:
        spill = Spill(folder)
        result = rerate_period(
            settings,
            ledger,
            period,
            account=account,
            sheets_dir=sheets_dir,
            spill=spill,
            slice_calls=slice_calls,
        )
        report = apply_rerate(settings, ledger, result, spill, reason, today=today)
    return result, report


def apply_rerate(
    settings: Settings,
    ledger: Ledger,
    result: RerateResult,
    spill: Spill,
    reason: str,
    *,
    today: dt.date | None = None,
) -> ApplyReport:
    """Commit ``result``, whose new rows are in ``spill``."""
    report = ApplyReport(rerate_id=_stamp())
    if result.unchanged:
        # An apply killed after its commit left notes without PDFs: finish them.
        render_missing(settings, ledger, result.period)
        return report
    data = DataDir(settings.paths.data_dir)
    month = StoredMonth.of(ledger, data, result.period)
    journal = _write_journal(month, result, report.rerate_id)
    replaced, written, old_files = _write_new_files(month, result, spill, report.rerate_id)
    sync_directories(written)
    issued = today or dt.date.today()
    manifest = output_path(data.root / "rerates", f"{report.rerate_id}.json")
    write_json(_manifest(result, reason, report.rerate_id, issued), manifest)
    report.manifest = data.relative(manifest)
    created = now()
    notes = [
        _note_request(settings, ledger, change, reason, issued)
        for change in result.accounts
        if change.invoice is not None and change.difference != 0
    ]
    record = RerateRecord(
        rerate_id=report.rerate_id,
        period=result.period,
        account=result.account,
        reason=reason,
        applied_at=created,
        sheets_before=result.sheets_before,
        sheets_after=result.sheets_after,
        calls_changed=result.changes.height,
        manifest=report.manifest,
    )
    report.notes = commit_rerate(ledger, replaced, notes, record)
    checkpoint("rerate-committed")
    for old in old_files:
        (data.root / old.path).unlink(missing_ok=True)
        if old.kind == "rated":
            data.index_of(data.root / old.path).unlink(missing_ok=True)
    report.files_replaced = len(replaced)
    render_missing(settings, ledger, result.period)
    clear_journal(journal)
    return report


def _write_journal(month: StoredMonth, result: RerateResult, rerate_id: str) -> Journal:
    """Name the store files the apply may write and those it replaces, before writing:
    whichever of them the ledger has not committed when the apply is interrupted, the
    next run removes (the new ones before the commit, the old ones after it)."""
    touched = {p.sha256 for p in (*month.rated, *month.rejects) if p.path in result.touched}
    old = [p.path for p in (*month.rated, *month.rejects) if p.sha256 in touched]
    new = [
        _new_file(kind, result.period, sha256, rerate_id)
        for sha256 in sorted(touched)
        for kind in KINDS
    ]
    return write_journal(month.data, "rerate", rerate_id, [*new, *old])


def _new_file(kind: Kind, period: str, sha256: str, rerate_id: str) -> str:
    """The store file (relative path) that replaces ``kind``'s file of one input."""
    return f"{kind}/period={period}/{sha256[:16]}-{rerate_id}.parquet"


def _write_new_files(
    month: StoredMonth, result: RerateResult, spill: Spill, rerate_id: str
) -> tuple[list[ReplacedFile], list[Path], list[PartitionFile]]:
    """The new version of every store file of the period that re-rating touched, one
    input file at a time; the old ones are copied to ``audit/<rerate_id>/``.

    Per input file: its rated rows out of scope are kept, the re-rated ones replace the
    rest; rejects that now rate leave its rejects file, rated calls that no longer rate
    join it (with their message; the raw line stays in the audit copy).
    """
    data = month.data
    partitions = (*month.rated, *month.rejects)
    by_path = {p.path: p for p in partitions}
    inputs = sorted({by_path[path].sha256 for path in result.touched if path in by_path})
    replaced: list[ReplacedFile] = []
    written: list[Path] = []
    old_files: list[PartitionFile] = []
    for sha256 in inputs:
        files = {p.kind: p for p in partitions if p.sha256 == sha256}
        sources = pl.Series([p.path for p in files.values()]).implode()
        rated_here = _spilled(spill.rated, sources)
        rescued = rated_here.filter(pl.col("_origin") == "rejects").select("file", "line")
        kept = pl.DataFrame(schema=RATED)
        if result.account is not None and "rated" in files:
            kept = _read(data, files["rated"]).filter(pl.col("account") != result.account)
        rated = _stack([kept, rated_here])
        old_rejects = (
            _read(data, files["rejects"]) if "rejects" in files else pl.DataFrame(schema=REJECTS)
        )
        if rescued.height:
            old_rejects = old_rejects.join(rescued, on=["file", "line"], how="anti")
        lost = _spilled(spill.rejects, sources).filter(pl.col("_origin") == "rated")
        rejects = _stack([old_rejects, _reject_rows(lost)])
        outputs: tuple[tuple[Kind, pl.DataFrame], ...] = (("rated", rated), ("rejects", rejects))
        for kind, frame in outputs:
            old = files.get(kind)
            if old is None and frame.is_empty():
                continue
            new = PartitionFile(
                _new_file(kind, result.period, sha256, rerate_id),
                sha256,
                kind,
                result.period,
                frame.height,
            )
            files_written = write_piece(
                data, data.root / new.path, Piece(kind, sha256, result.period, frame)
            )
            new = with_checksums(data, new, checksums_of(data, files_written))
            written += files_written
            if old is not None:
                audit = data.root / "audit" / rerate_id / old.path
                make_directories(audit.parent)
                shutil.copy2(data.root / old.path, audit)
                written.append(audit)
                old_files.append(old)
            totals = file_totals(frame, sha256, result.period) if kind == "rated" else []
            replaced.append(ReplacedFile(old, new, totals))
            checkpoint("rerate-file-written")
    return replaced, written, old_files


def _spilled(paths: list[Path], sources: pl.Series) -> pl.DataFrame:
    """The spilled rows that came from the store files ``sources``."""
    if not paths:
        return pl.DataFrame(
            schema={"_from": pl.String, "_origin": pl.String, "file": pl.String, "line": pl.Int64}
        )
    return pl.scan_parquet(paths).filter(pl.col("_from").is_in(sources)).collect()


def _read(data: DataDir, partition: PartitionFile) -> pl.DataFrame:
    return scan_stored(partition.kind, [data.root / partition.path]).collect()  # type: ignore[arg-type]


def _stack(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Rows of ``frames`` in input line order, without the re-rating's own columns."""
    present = [frame for frame in frames if frame.width]
    stacked = pl.concat(present, how="diagonal_relaxed").sort("line", maintain_order=True)
    return stacked.drop("_from", "_origin", "_retry", strict=False)


def _reject_rows(outcome: pl.DataFrame) -> pl.DataFrame:
    """Rows that re-rating rejects, as the store keeps rejects (message, no raw line)."""
    if outcome.is_empty():
        return pl.DataFrame(schema=REJECTS)
    rows = with_messages(outcome.select(*reject_columns(outcome)))
    return as_rejects(rows)


def _stamp() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _manifest(result: RerateResult, reason: str, rerate_id: str, issued: dt.date) -> dict[str, Any]:
    return {
        "rerate_id": rerate_id,
        "period": result.period,
        "account": result.account,
        "reason": reason,
        "issued_on": f"{issued:%Y-%m-%d}",
        "sheets_before": result.sheets_before,
        "sheets_after": result.sheets_after,
        **result.as_dict(),
    }


def _note_request(
    settings: Settings, ledger: Ledger, change: AccountChange, reason: str, issued: dt.date
) -> NoteRequest:
    """The credit or debit note that settles ``change``, numbered when it is issued."""
    original = find_invoice(ledger, change.invoice or "")
    bill = note_bill(change, billed_lines(ledger, original.invoice_id))
    credit = change.difference < 0
    billing = settings.billing

    def draft(number: str) -> Draft:
        document: InvoiceDocument = build_document(
            bill,
            issuer(settings),
            billing.timezone,
            status="final",
            number=number,
            issued_on=issued,
            due_on=None if credit else issued + dt.timedelta(days=billing.payment_terms_days),
            kind="credit_note" if credit else "debit_note",
            refers_to=original.number,
            reason=reason,
        )
        return Draft(bill, document, None)

    return NoteRequest(
        prefix=billing.credit_note_prefix if credit else billing.debit_note_prefix,
        year=issued.year,
        corrects=original.invoice_id,
        reason=reason,
        draft=draft,
    )


def stored_call(ledger: Ledger, data: DataDir, period: str, call_id: str) -> pl.DataFrame:
    """The stored row(s) of ``call_id`` in ``period``: rated, or a re-rateable reject
    (``_origin`` says which, ``_from`` the store file)."""
    month = StoredMonth.of(ledger, data, period)
    found = [
        relative_source(frame.filter(pl.col("call_id") == call_id).collect(), data).with_columns(
            _origin=pl.lit(kind)
        )
        for kind, frame in (
            ("rated", month.rated_calls(with_source=True)),
            ("rejects", month.stored_rejects(with_source=True)),
        )
    ]
    return (
        pl.concat([frame for frame in found if frame.height], how="diagonal_relaxed")
        if any(frame.height for frame in found)
        else pl.DataFrame()
    )


def price_again(stored: pl.DataFrame, setup: BillingSetup) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(rated, rejects)``: stored rows (from ``stored_call``) priced with ``setup``."""
    origin = pl.col("_origin")
    rated = conform(stored.filter(origin == "rated"), RATED).collect()
    rejects = retryable(conform(stored.filter(origin == "rejects"), REJECTS).collect(), None)
    frame = _priced(engine_input(rated, rejects), setup)
    again = frame.filter(pl.col("_reason").is_null()).select(rated_columns(frame))
    failed = with_messages(
        frame.filter(pl.col("_reason").is_not_null()).select(reject_columns(frame))
    )
    return again, failed
