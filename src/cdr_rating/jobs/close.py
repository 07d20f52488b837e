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
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cdr_rating.billing.document import InvoiceDocument
from cdr_rating.billing.documents import build_document, call_rows
from cdr_rating.billing.period import Bill, PeriodBill, bill_period
from cdr_rating.config import Settings
from cdr_rating.errors import ConfigError
from cdr_rating.faults import checkpoint
from cdr_rating.jobs.books import open_ledger
from cdr_rating.jobs.month import MonthSlices, StoredMonth, month_slices
from cdr_rating.jobs.setup import BillingSetup, billing_setup, issuer, now, today_in
from cdr_rating.ledger import Ledger
from cdr_rating.ledger.invoices import (
    Draft,
    InvoiceRecord,
    appendix_files,
    final_accounts,
    finalise_drafts,
    list_invoices,
    record_rendering,
    save_drafts,
    sheets_json,
)
from cdr_rating.rating.engine import RATED_COLUMNS
from cdr_rating.store import DataDir, account_bucket, write_bytes, write_frame

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
    return billed.calls.filter((pl.col("account") == bill.account) & _shown())


def _shown() -> pl.Expr:
    """Calls listed in an appendix: those with billed seconds or a charge."""
    return (pl.col("billable_s") > 0) | (pl.col("charge") != 0)


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
    remove_unreferenced(ledger, data, data.root / "invoices" / period)
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
    snapshot = _write_appendix(billed, folder / f"calls-{stamp}-{bucket:04d}.parquet")
    data = slices.month.data
    return [
        Draft(
            bill=bill,
            document=build_document(bill, issuer(settings), settings.billing.timezone),
            calls=None
            if snapshot is None or not bill.customer.itemised
            else data.relative(snapshot),
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
        pl.col("account").is_in(pl.Series(itemised).implode()) & _shown()
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
    ``numbers``, of those invoices again); return how many were rendered."""
    # WeasyPrint takes a second to import: only commands that render pay for it.
    from cdr_rating.render import render_html, render_pdfs  # noqa: PLC0415

    data = DataDir(settings.paths.data_dir)
    records = [
        record
        for record in list_invoices(ledger, period=period)
        if record.number is not None
        and (
            record.number in numbers
            if numbers is not None
            else record.pdf is None or not (data.root / record.pdf).is_file()
        )
    ]
    if not records:
        return 0
    templates = settings.paths.templates
    jobs: list[tuple[InvoiceDocument, Path]] = []
    rendered: list[tuple[int, str, str]] = []
    appendices = _appendices(data, records)
    for record in records:
        document = record.to_document()
        if record.calls is not None:
            document = _with_calls(document, appendices, record, settings.billing.timezone)
        target = data.root / "invoices" / record.period / f"{_safe(record.number or '')}.pdf"
        html_path = target.with_suffix(".html")
        write_bytes(html_path, render_html(document, templates).encode("utf-8"))
        checkpoint("html-written")
        jobs.append((document, target))
        rendered.append((record.invoice_id, data.relative(target), data.relative(html_path)))
    render_pdfs(
        jobs, templates, workers=workers if workers is not None else settings.billing.render_workers
    )
    record_rendering(ledger, rendered)
    return len(rendered)


def _appendices(data: DataDir, records: list[InvoiceRecord]) -> dict[str, pl.DataFrame]:
    files = sorted({record.calls for record in records if record.calls is not None})
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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def remove_unreferenced(ledger: Ledger, data: DataDir, folder: Path) -> None:
    """Remove appendix files no invoice refers to (left by drafts or a killed close)."""
    if not folder.is_dir():
        return
    used = appendix_files(ledger)
    for path in folder.glob("calls-*.parquet"):
        if data.relative(path) not in used:
            path.unlink(missing_ok=True)
