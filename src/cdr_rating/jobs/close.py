"""Closing a billing period and previewing invoices: the store and ledger around billing.

``close_period`` is idempotent and safe to interrupt. In order:

1. bill every account of the period that has no final invoice yet, a slice of accounts
   at a time (``jobs.month``), and write each slice's itemised calls to one Parquet
   file (atomically);
2. replace the period's drafts by the new ones, in one transaction;
3. finalise the drafts in one transaction, numbers taken from the gap-free sequence;
4. render the HTML and PDF of every final invoice of the period that has none yet
   (in parallel processes), then record their paths.

Killed before step 3 commits, a run leaves drafts (regenerated next time) and perhaps
unreferenced Parquet files (removed next time); after it, final invoices whose files
step 4 renders again, identically, from the ledger. Closing twice issues nothing new.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cdr_rating.billing.document import InvoiceDocument
from cdr_rating.billing.documents import build_document, call_rows
from cdr_rating.billing.period import SHOWN, Bill, PeriodBill, bill_period
from cdr_rating.config import Settings
from cdr_rating.errors import ConfigError, StoredFileError
from cdr_rating.faults import checkpoint
from cdr_rating.jobs.books import open_ledger
from cdr_rating.jobs.month import MonthSlices, StoredMonth, month_slices
from cdr_rating.jobs.setup import BillingSetup, billing_setup, issuer, now, today_in
from cdr_rating.jobs.verify import check_file_totals, checksums_of, damaged, missing
from cdr_rating.ledger import Ledger
from cdr_rating.ledger.checksums import record_calls_checksums
from cdr_rating.ledger.invoices import (
    Draft,
    InvoiceRecord,
    Rendering,
    appendix_files,
    final_accounts,
    finalise_drafts,
    list_invoices,
    record_rendering,
    save_drafts,
    sheets_json,
)
from cdr_rating.names import output_path
from cdr_rating.rating.engine import RATED_COLUMNS
from cdr_rating.store import (
    DataDir,
    account_bucket,
    clear_journal,
    file_sha256,
    files_sha256,
    journals,
    write_bytes,
    write_frame,
    write_journal,
)

# The columns of a stored rated call that billing reads: all the engine's but the
# dialled text (billing uses the normalised number).
CALL_COLUMNS = tuple(column for column in RATED_COLUMNS if column != "callee")
INVOICE_TEMPLATE = "invoice.html.j2"
APPENDIX_COLUMNS = (*CALL_COLUMNS, "allowance", "allowance_s", "billed")


@dataclass
class CloseReport:
    period: str
    issued: list[InvoiceRecord] = field(default_factory=list)
    already_final: int = 0
    rendered: int = 0
    slices: int = 0

    def summary_lines(self) -> list[str]:
        lines = [
            f"invoices for {self.period}: {len(self.issued)} issued, "
            f"{self.already_final} already final, {self.rendered} PDFs rendered"
        ]
        if self.issued:
            numbers = [record.number or "" for record in self.issued]
            lines.append(f"numbers {numbers[0]} to {numbers[-1]}")
        return lines


def billed_calls(slices: MonthSlices, bucket: int) -> pl.DataFrame:
    """The columns billing reads of the calls of one slice of a month."""
    return slices.calls(bucket).select(CALL_COLUMNS).collect()


def accounts_by_bucket(accounts: Sequence[str], buckets: int) -> dict[int, list[str]]:
    """``accounts`` sorted into the slices their calls are in."""
    frame = pl.DataFrame({"account": list(accounts)}, schema={"account": pl.String})
    bucketed = frame.with_columns(_bucket=account_bucket(pl.col("account"), buckets))
    found: dict[int, list[str]] = {bucket: [] for bucket in range(buckets)}
    for account, bucket in zip(*bucketed.get_columns(), strict=True):
        found[int(bucket)].append(str(account))
    return found


def preview(
    settings: Settings, account: str, period: str, *, today: dt.date | None = None
) -> tuple[Bill, InvoiceDocument]:
    """What the invoice of ``account`` for ``period`` would be now (a draft)."""
    setup = billing_setup(settings, period)
    if account not in set(setup.rules.accounts.get_column("account").to_list()):
        raise ConfigError(
            f"{settings.paths.accounts}: no account {account!r}; the accounts file lists "
            "who can be invoiced"
        )
    data = DataDir(settings.paths.data_dir)
    with open_ledger(settings, private=True) as ledger:
        month = StoredMonth.of(ledger, data, period)
    calls = month.rated_calls().select(CALL_COLUMNS).filter(pl.col("account") == account)
    billed = bill_period(calls.collect(), setup.rules, setup.plan, only=[account])
    bill = billed.bill_of(account)
    if bill is None:
        raise ConfigError(
            f"account {account} has nothing to invoice for {period}: no calls, fees or "
            "commitment, or no plan in force in the period"
        )
    issued = today or today_in(settings)
    document = build_document(
        bill,
        issuer(settings),
        settings.billing.timezone,
        issued_on=issued,
        due_on=issued + dt.timedelta(days=settings.billing.payment_terms_days),
        calls=_appendix(billed, bill),
    )
    return bill, document


def _appendix(billed: PeriodBill, bill: Bill) -> pl.DataFrame | None:
    if not bill.customer.itemised:
        return None
    return billed.calls.filter((pl.col("account") == bill.account) & SHOWN)


def close_period(
    settings: Settings,
    ledger: Ledger,
    period: str,
    *,
    today: dt.date | None = None,
    workers: int | None = None,
    setup: BillingSetup | None = None,
    slice_calls: int | None = None,
) -> CloseReport:
    """Issue the invoices of ``period`` (see the module docstring). The caller holds
    the run lock; a run passes the ``setup`` it already loaded."""
    data = DataDir(settings.paths.data_dir)
    check_templates(settings)
    report = CloseReport(period)
    done = final_accounts(ledger, period)
    report.already_final = len(done)
    setup = setup or billing_setup(settings, period)
    waiting = sorted(set(setup.rules.accounts.get_column("account").to_list()) - done)
    month = StoredMonth.of(ledger, data, period)
    check_file_totals(ledger, data, month.rated)
    drafts = draft_invoices(settings, month, setup, waiting, slice_calls)
    report.slices = drafts.slices
    checkpoint("appendix-written")
    save_drafts(ledger, period, drafts.drafts, drafts.created, sheets_json(setup.references))
    checkpoint("drafts-saved")
    issued = today or today_in(settings)
    report.issued = finalise_drafts(
        ledger,
        period,
        prefix=settings.billing.invoice_prefix,
        issued_on=issued,
        due_on=issued + dt.timedelta(days=settings.billing.payment_terms_days),
        finalised_at=drafts.created,
    )
    checkpoint("finalised")
    report.rendered = render_missing(settings, ledger, period, workers=workers)
    remove_unreferenced(ledger, data)
    return report


@dataclass(frozen=True)
class Drafts:
    drafts: list[Draft]
    created: str
    slices: int


def draft_invoices(
    settings: Settings,
    month: StoredMonth,
    setup: BillingSetup,
    accounts: Sequence[str],
    slice_calls: int | None = None,
) -> Drafts:
    """Bill ``accounts`` slice by slice; each slice's itemised calls go to one file."""
    created = now()
    stamp = f"{created.replace(':', '')}-{secrets.token_hex(3)}"
    folder = month.data.root / "invoices" / month.period
    drafts: list[Draft] = []
    buckets = month.slices(slice_calls)
    # Named before any is written: if the close is killed, the next one removes exactly
    # these when no invoice refers to them (remove_unreferenced).
    appendices = [
        month.data.relative(output_path(folder, _appendix_name(stamp, bucket)))
        for bucket in range(buckets)
    ]
    write_journal(month.data, "close", stamp, appendices)
    with month_slices(month, buckets=buckets) as slices:
        for bucket, accounts_here in accounts_by_bucket(accounts, buckets).items():
            if accounts_here:
                drafts += _draft_slice(
                    settings, slices, bucket, setup, accounts_here, folder, stamp
                )
    return Drafts(sorted(drafts, key=lambda draft: draft.bill.account), created, buckets)


def _draft_slice(
    settings: Settings,
    slices: MonthSlices,
    bucket: int,
    setup: BillingSetup,
    accounts: list[str],
    folder: Path,
    stamp: str,
) -> list[Draft]:
    """The draft invoices of one slice's accounts; their itemised calls to one file."""
    calls = billed_calls(slices, bucket)
    billed = bill_period(calls, setup.rules, setup.plan, only=accounts)
    del calls
    snapshot = _write_appendix(billed, output_path(folder, _appendix_name(stamp, bucket)))
    data = slices.month.data
    checksum = None if snapshot is None else file_sha256(snapshot)
    return [
        Draft(
            bill=bill,
            document=build_document(bill, issuer(settings), settings.billing.timezone),
            calls=None
            if snapshot is None or not bill.customer.itemised
            else data.relative(snapshot),
            calls_checksum=checksum if bill.customer.itemised else None,
        )
        for bill in billed.bills
    ]


def check_templates(settings: Settings) -> None:
    """Fail before anything is issued if the invoice template is missing."""
    template = settings.paths.templates / INVOICE_TEMPLATE
    if not template.is_file():
        raise ConfigError(
            f"{template}: invoice template not found; set [paths] templates to the folder "
            "holding invoice.html.j2 (the repository's templates/)"
        )


def _write_appendix(billed: PeriodBill, path: Path) -> Path | None:
    """One Parquet file with the billed calls of every itemised bill."""
    itemised = [bill.account for bill in billed.bills if bill.customer.itemised]
    if not itemised:
        return None
    frame = billed.calls.filter(
        pl.col("account").is_in(pl.Series(itemised).implode()) & SHOWN
    ).select(APPENDIX_COLUMNS)
    write_frame(frame, path)
    return path


def render_missing(
    settings: Settings,
    ledger: Ledger,
    period: str | None = None,
    *,
    workers: int | None = None,
    numbers: Sequence[str] | None = None,
) -> int:
    """Render the HTML and PDF of final and void invoices that lack them (or, with
    ``numbers``, of those invoices again: a void re-render); return how many were
    rendered, and record the files' sha256.

    A document's file is never overwritten with other content: one already there with
    its recorded sha256 is kept, and so is one a killed render left (the same HTML); any
    other file in its place stops with ``StoredFileError`` (exit 3), as does a rendered
    PDF or HTML that no longer matches its checksum.
    """
    # WeasyPrint takes a second to import: only commands that render pay for it.
    from cdr_rating.render import render_html, render_pdfs  # noqa: PLC0415

    data = DataDir(settings.paths.data_dir)
    numbered = [r for r in list_invoices(ledger, period=period) if r.number is not None]
    if numbers is None:
        records = [record for record in numbered if not _rendered(data, record)]
        _record_earlier_renderings(ledger, data, numbered)
    else:
        records = [record for record in numbered if record.number in numbers]
    if not records:
        return 0
    templates = settings.paths.templates
    jobs: list[tuple[InvoiceDocument, Path]] = []
    targets: list[tuple[int, Path, Path]] = []
    appendices = _appendices(ledger, data, records)
    for record in records:
        document = record.to_document()
        if record.calls is not None:
            document = _with_calls(document, appendices, record, settings.billing.timezone)
        target = output_path(data.root / "invoices", record.period, f"{record.number}.pdf")
        html_path = target.with_suffix(".html")
        html = render_html(document, templates).encode("utf-8")
        rerender = numbers is not None
        html_kept = not rerender and _kept(html_path, record.html_checksum, html)
        if not html_kept:
            write_bytes(html_path, html)
        checkpoint("html-written")
        # A PDF beside the same HTML, not yet recorded, is one a killed render wrote.
        pdf_kept = not rerender and _kept(target, record.pdf_checksum, html_kept or None)
        if not pdf_kept:
            jobs.append((document, target))
        targets.append((record.invoice_id, target, html_path))
    if jobs:
        workers = workers if workers is not None else settings.billing.render_workers
        render_pdfs(jobs, templates, workers=workers)
    sums = checksums_of(data, [path for _, pdf, html in targets for path in (pdf, html)])
    record_rendering(
        ledger,
        [
            Rendering(
                invoice_id,
                data.relative(pdf),
                data.relative(html),
                sums[data.relative(pdf)],
                sums[data.relative(html)],
            )
            for invoice_id, pdf, html in targets
        ],
    )
    return len(targets)


def _rendered(data: DataDir, record: InvoiceRecord) -> bool:
    """Whether ``record``'s PDF is there (and, if its checksum is recorded, intact)."""
    if record.pdf is None or not (data.root / record.pdf).is_file():
        return False
    if record.pdf_checksum is not None and file_sha256(data.root / record.pdf) != (
        record.pdf_checksum
    ):
        raise damaged(data.root / record.pdf)
    return True


def _record_earlier_renderings(
    ledger: Ledger, data: DataDir, records: Sequence[InvoiceRecord]
) -> None:
    """Record the checksums of documents rendered before ledger schema 4 (from now on
    they are kept as they are, like any other)."""
    earlier = [
        record
        for record in records
        if record.pdf is not None
        and record.html is not None
        and record.pdf_checksum is None
        and (data.root / record.pdf).is_file()
        and (data.root / record.html).is_file()
    ]
    if not earlier:
        return
    paths = [data.root / name for r in earlier for name in (r.pdf or "", r.html or "")]
    sums = checksums_of(data, paths)
    record_rendering(
        ledger,
        [
            Rendering(
                r.invoice_id, r.pdf or "", r.html or "", sums[r.pdf or ""], sums[r.html or ""]
            )
            for r in earlier
        ],
    )


def _kept(path: Path, recorded: str | None, content: bytes | bool | None) -> bool:
    """Whether the file of a final document at ``path`` is already there as it should
    be: with its ``recorded`` sha256 or, none being recorded, with ``content`` (``True``:
    known to be the same document). ``False`` when there is no file to keep.

    Raises:
        StoredFileError: another file is in its place; it is never overwritten.
    """
    if not path.is_file():
        return False
    if recorded is not None:
        if file_sha256(path) != recorded:
            raise damaged(path)
        return True
    if content is True or (isinstance(content, bytes) and path.read_bytes() == content):
        return True
    raise StoredFileError(
        f"{path}: a different file is already there and a final document is never "
        "overwritten; if it is not a document already sent, move it away and run again, "
        "otherwise restore the ledger that issued it from a backup"
    )


def _appendices(
    ledger: Ledger, data: DataDir, records: list[InvoiceRecord]
) -> dict[str, pl.DataFrame]:
    """The itemised-call files of ``records``, verified (checksums recorded for those
    written before ledger schema 4)."""
    recorded = {r.calls: r.calls_checksum for r in records if r.calls is not None}
    files = sorted(recorded)
    found = dict(zip(files, files_sha256([data.root / name for name in files]), strict=True))
    for name in files:
        expected = recorded[name]
        if found[name] is None:
            raise missing(data.root / name)
        if expected is not None and found[name] != expected:
            raise damaged(data.root / name)
    unrecorded = {name: found[name] or "" for name in files if recorded[name] is None}
    if unrecorded:
        record_calls_checksums(ledger, unrecorded)
    return {name: pl.read_parquet(data.root / name) for name in files}


def _with_calls(
    document: InvoiceDocument,
    appendices: dict[str, pl.DataFrame],
    record: InvoiceRecord,
    timezone: str,
) -> InvoiceDocument:
    frame = appendices[record.calls or ""].filter(pl.col("account") == record.account)
    decimals = len(record.subtotal.partition(".")[2])
    return dataclasses.replace(document, calls=call_rows(frame, timezone, decimals))


def _appendix_name(stamp: str, bucket: int) -> str:
    """The file of one slice's itemised calls, in the period's invoice folder."""
    return f"calls-{stamp}-{bucket:04d}.parquet"


def remove_unreferenced(ledger: Ledger, data: DataDir) -> None:
    """Remove the appendix files that closes journaled (this one, and any killed
    before it) and that no invoice refers to, then their journals.

    Only journaled files: an appendix the ledger does not know may belong to invoices
    issued since the backup a ledger was restored from, and is kept."""
    used = appendix_files(ledger)
    for journal in journals(data, "close"):
        for name in journal.entries:
            parts = Path(name).parts
            # Never anything but an appendix of the invoice folders, whatever it says.
            appendix = len(parts) == 3 and parts[0] == "invoices" and ".." not in parts
            if appendix and parts[2].startswith("calls-") and name not in used:
                (data.root / name).unlink(missing_ok=True)
        clear_journal(journal)
