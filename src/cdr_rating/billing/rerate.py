"""Re-rating a stored period: what changes, and settling it with credit and debit notes.

``rerate_period`` prices the period's stored calls again, and its stored ``no_rate`` and
``unknown_account`` rejects (a corrected sheet or accounts file may rate them now), with
the current sheets or those of ``--sheets``; it re-applies the period rules (allowances
from scratch, fees, commitments, taxes) and compares, per account:

- ``billed``: for an account with a final invoice, that invoice's total plus the notes
  already issued against it; otherwise what the stored calls bill (a draft);
- ``rerated``: what the re-rated calls bill.

Nothing is written unless ``apply_rerate`` is called, which, in order:

1. writes the new version of every affected store file under a new name, and copies
   the old ones to ``audit/<rerate_id>/``;
2. in one transaction: points the ledger at the new files (and their totals), issues a
   credit note (``CN-…``) or debit note (``DN-…``) for every finally-invoiced account
   whose total changed, citing the invoice and listing the per-line differences and
   the tax effect, and records the re-rating with the sheets before and after;
3. removes the old files from the store and renders the notes.

Killed before step 2 commits, nothing has changed (new files are orphans that the next
run removes); after it, old files are orphans with their audit copies kept, and notes
without PDFs are rendered by the next apply or close. Applying
the same correction twice finds no difference and issues nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cdr_rating.billing.allowances import allowance_table
from cdr_rating.billing.close import (
    CALL_COLUMNS,
    BillingSetup,
    billing_setup,
    check_templates,
    render_missing,
)
from cdr_rating.billing.document import InvoiceDocument
from cdr_rating.billing.documents import build_document, document_to_json
from cdr_rating.billing.invoices import Draft, find_invoice, insert_invoice, next_number
from cdr_rating.billing.period import Bill, BillLine, PeriodBill, TaxLine, bill_period, minutes
from cdr_rating.config import Settings
from cdr_rating.ledger import Ledger, PartitionFile
from cdr_rating.money import DECIMAL_PRECISION, MAX_DECIMALS, format_amount
from cdr_rating.rating.engine import rate_outcome, rated_columns, reject_columns
from cdr_rating.rejects import with_messages
from cdr_rating.store import (
    DataDir,
    checkpoint,
    sync_directories,
    write_call_index,
    write_json,
    write_partition,
)

# Rejects that other sheets or accounts may rate, and what the store keeps to retry them.
RERATEABLE = ("no_rate", "unknown_account")
RERATE_FIELDS = ("account", "caller", "callee", "number", "start", "duration_ms", "caller_number")
MONEY = pl.Decimal(DECIMAL_PRECISION, MAX_DECIMALS)
CHANGE_COLUMNS = ("prefix", "band", "billable_s", "charge")
_BEFORE_SCHEMA = pl.Schema(
    {
        "call_id": pl.String(),
        "account": pl.String(),
        "start": pl.Datetime("us", "UTC"),
        "number": pl.String(),
        "prefix_before": pl.String(),
        "band_before": pl.String(),
        "billable_s_before": pl.Int64(),
        "charge_before": MONEY,
    }
)


@dataclass(frozen=True)
class AccountChange:
    """One account's bill before and after; amounts are totals (currency decimals)."""

    account: str
    currency: str
    currency_decimals: int
    invoice: str | None
    billed: Decimal
    rerated: Decimal
    before: Bill | None
    after: Bill | None
    calls_changed: int

    @property
    def difference(self) -> Decimal:
        return self.rerated - self.billed

    def as_dict(self) -> dict[str, Any]:
        places = self.currency_decimals
        return {
            "account": self.account,
            "currency": self.currency,
            "invoice": self.invoice,
            "billed": format_amount(self.billed, places),
            "rerated": format_amount(self.rerated, places),
            "difference": format_amount(self.difference, places),
            "calls_changed": self.calls_changed,
        }


@dataclass
class RerateResult:
    """Everything a re-rating found; ``changes`` is one row per changed call."""

    period: str
    account: str | None
    accounts: list[AccountChange]
    changes: pl.DataFrame
    rated: pl.DataFrame  # the re-rated calls of the period (store shape, plus ``_from``)
    rejects: pl.DataFrame  # rows still (or newly) rejected (store shape, plus ``_from``)
    sheets_before: list[dict[str, str]]
    sheets_after: list[dict[str, str]]
    partitions: list[PartitionFile] = field(default_factory=list)
    # The period's calls as re-rated and what prices them: notes are detailed from them.
    billing_calls: pl.DataFrame = field(default_factory=pl.DataFrame)
    after_setup: BillingSetup | None = None
    # The store files of the period as read (with ``_from``): apply rewrites from them.
    stored_rated: pl.DataFrame = field(default_factory=pl.DataFrame)
    stored_rejects: pl.DataFrame = field(default_factory=pl.DataFrame)

    def total_difference(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for change in self.accounts:
            totals[change.currency] = totals.get(change.currency, Decimal(0)) + change.difference
        return totals

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``cdr-rating rerate`` (ARCHITECTURE.md section 8).

        ``total_difference`` is a string when every account bills in one currency,
        otherwise an object by currency (amounts in different currencies do not add).
        """
        by_currency = {
            currency: format_amount(amount, self._places(currency))
            for currency, amount in sorted(self.total_difference().items())
        }
        total: str | dict[str, str] | None = (
            next(iter(by_currency.values())) if len(by_currency) == 1 else by_currency or None
        )
        return {
            "period": self.period,
            "accounts": [change.as_dict() for change in self.accounts],
            "total_difference": total if total is not None else "0.00",
            "calls_changed": self.changes.height,
        }

    def _places(self, currency: str) -> int:
        return next(c.currency_decimals for c in self.accounts if c.currency == currency)

    @property
    def unchanged(self) -> bool:
        return self.changes.is_empty() and all(c.difference == 0 for c in self.accounts)


def _read(paths: Sequence[Path], data: DataDir) -> pl.DataFrame:
    frames = [
        pl.read_parquet(path).with_columns(_from=pl.lit(data.relative(path))) for path in paths
    ]
    if not frames:
        return pl.DataFrame()
    frame = pl.concat(frames, how="diagonal_relaxed")
    if "charge" in frame.columns:
        frame = frame.with_columns(pl.col("charge").cast(MONEY))
    return frame


def rerate_period(
    settings: Settings,
    ledger: Ledger,
    period: str,
    *,
    account: str | None = None,
    sheets_dir: Path | None = None,
) -> RerateResult:
    """Re-rate ``period`` (or one account of it) and compare the bills; write nothing."""
    data = DataDir(settings.paths.data_dir)
    before_setup = billing_setup(settings, period)
    after_setup = billing_setup(settings, period, sheets_dir) if sheets_dir else before_setup
    partitions = ledger.partition_files(periods=[period])
    old_rated = _read([data.root / p.path for p in partitions if p.kind == "rated"], data)
    old_rejects = _read([data.root / p.path for p in partitions if p.kind == "rejects"], data)
    in_scope = _in_scope(old_rated, account)
    retry = _retryable(old_rejects, account)
    outcome = rate_outcome(
        _engine_input(old_rated.filter(in_scope), retry).lazy(), after_setup.plan
    )
    outcome_frame = outcome.with_columns(pl.col("charge").cast(MONEY)).collect()
    rated = outcome_frame.filter(pl.col("_reason").is_null()).select(
        *rated_columns(outcome_frame), "_from", "_origin"
    )
    rejected = outcome_frame.filter(pl.col("_reason").is_not_null())
    changes = _changes(old_rated.filter(in_scope), retry, rated)
    unchanged_rated = old_rated.filter(~in_scope) if not old_rated.is_empty() else old_rated
    after_calls = _billing_columns(
        pl.concat([unchanged_rated, rated.drop("_origin")], how="diagonal_relaxed")
    )
    accounts = _compare(
        ledger,
        period,
        account,
        (before_setup, old_rated),
        (after_setup, after_calls),
        changes,
    )
    return RerateResult(
        period=period,
        account=account,
        accounts=accounts,
        changes=changes,
        rated=rated,
        rejects=rejected,
        sheets_before=before_setup.references,
        sheets_after=after_setup.references,
        partitions=partitions,
        billing_calls=after_calls,
        after_setup=after_setup,
        stored_rated=old_rated,
        stored_rejects=old_rejects,
    )


def _in_scope(rated: pl.DataFrame, account: str | None) -> pl.Expr:
    if rated.is_empty():
        return pl.lit(value=True)
    return pl.lit(value=True) if account is None else pl.col("account") == account


def _retryable(rejects: pl.DataFrame, account: str | None) -> pl.DataFrame:
    """Stored rejects that may rate now (those kept with what rating needs)."""
    if rejects.is_empty() or not set(RERATE_FIELDS) <= set(rejects.columns):
        return pl.DataFrame()
    keep = pl.col("reason").is_in(RERATEABLE) & pl.col("duration_ms").is_not_null()
    if account is not None:
        keep &= pl.col("account") == account
    return rejects.filter(keep)


def _engine_input(rated: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    """Stored rows back in the engine's input shape, each with its store file."""
    passthrough = [c for c in ("disposition", "service", "file", "line") if c in rated.columns]
    frames = []
    if not rated.is_empty():
        frames.append(
            rated.select(
                "call_id",
                "account",
                "caller",
                "callee",
                "number",
                "start",
                *passthrough,
                "_from",
                duration_ms=(pl.col("duration_s") * 1000).cast(pl.Int64),
                caller_number=pl.lit(None, pl.String),
                _origin=pl.lit("rated"),
            )
        )
    if not rejects.is_empty():
        frames.append(
            rejects.select(
                "call_id",
                "account",
                "caller",
                "callee",
                "number",
                "start",
                "file",
                "line",
                "_from",
                "duration_ms",
                "caller_number",
                _origin=pl.lit("rejects"),
            )
        )
    if not frames:
        return pl.DataFrame(
            schema={
                "call_id": pl.String,
                "account": pl.String,
                "number": pl.String,
                "start": pl.Datetime("us", "UTC"),
                "duration_ms": pl.Int64,
                "caller_number": pl.String,
                "_from": pl.String,
                "_origin": pl.String,
            }
        )
    return pl.concat(frames, how="diagonal_relaxed")


def _changes(old: pl.DataFrame, retried: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """One row per call whose prefix, band, billable seconds or charge changed, or that
    moved between rated and rejected."""
    before = pl.DataFrame(schema=_BEFORE_SCHEMA)
    if not old.is_empty():
        before = pl.concat(
            [
                before,
                old.select(
                    "call_id",
                    "account",
                    "start",
                    "number",
                    *(pl.col(c).alias(f"{c}_before") for c in CHANGE_COLUMNS),
                ),
            ],
            how="vertical_relaxed",
        )
    if not retried.is_empty():
        before = pl.concat(
            [before, retried.select("call_id", "account", "start", "number")],
            how="diagonal_relaxed",
        )
    after = new.select(
        "call_id", "account", *(pl.col(c).alias(f"{c}_after") for c in CHANGE_COLUMNS)
    )
    joined = before.join(after, on="call_id", how="full", coalesce=True, suffix="_new")
    differs = pl.lit(value=False)
    for column in CHANGE_COLUMNS:
        differs |= pl.col(f"{column}_before").ne_missing(pl.col(f"{column}_after"))
    return (
        joined.filter(differs)
        .with_columns(
            account=pl.coalesce("account_new", "account"),
            difference=pl.col("charge_after").fill_null(0) - pl.col("charge_before").fill_null(0),
        )
        .drop("account_new")
        .sort("account", "start", "call_id")
    )


def _compare(
    ledger: Ledger,
    period: str,
    account: str | None,
    before: tuple[BillingSetup, pl.DataFrame],
    after: tuple[BillingSetup, pl.DataFrame],
    changes: pl.DataFrame,
) -> list[AccountChange]:
    """Per account: billed (final invoice plus notes, or the stored calls' bill) and
    re-rated totals."""
    invoiced = _invoiced(ledger, period)
    after_setup, after_calls = after
    before_setup, before_calls = before
    only = None if account is None else [account]
    new = bill_period(after_calls, after_setup.rules, after_setup.plan, only, detail=False)
    counts = dict(changes.group_by("account").len().iter_rows()) if not changes.is_empty() else {}
    # Accounts without a final invoice are billed from their stored calls. When no call
    # of an account changed and the allowances are the same, that bill is the new one.
    same_allowances = allowance_table(before_setup.rules.sheets).equals(
        allowance_table(after_setup.rules.sheets)
    )
    waiting = [
        bill.account
        for bill in new.bills
        if bill.account not in invoiced and (bill.account in counts or not same_allowances)
    ]
    old: PeriodBill | None = None
    if waiting:
        old = bill_period(
            _billing_columns(before_calls),
            before_setup.rules,
            before_setup.plan,
            waiting,
            detail=False,
        )
    found = []
    names = sorted({bill.account for bill in new.bills} | ({account} if account else set(invoiced)))
    for name in names:
        if account is not None and name != account:
            continue
        after_bill = new.bill_of(name)
        previous = invoiced.get(name)
        before_bill = old.bill_of(name) if old is not None else None
        if before_bill is None and name not in invoiced and name not in counts:
            before_bill = after_bill if same_allowances else None
        reference = after_bill or before_bill
        if reference is None and previous is None:
            continue
        currency = reference.currency if reference else str(previous["currency"])  # type: ignore[index]
        places = reference.currency_decimals if reference else 2
        billed = (
            Decimal(previous["total"])
            if previous
            else (before_bill.total if before_bill else Decimal(0))
        )
        found.append(
            AccountChange(
                account=name,
                currency=currency,
                currency_decimals=places,
                invoice=str(previous["number"]) if previous else None,
                billed=billed,
                rerated=after_bill.total if after_bill else Decimal(0),
                before=before_bill,
                after=after_bill,
                calls_changed=int(counts.get(name, 0)),
            )
        )
    return found


def _billing_columns(calls: pl.DataFrame) -> pl.DataFrame:
    return calls.select(CALL_COLUMNS).with_columns(pl.col("charge").cast(MONEY))


def _invoiced(ledger: Ledger, period: str) -> dict[str, dict[str, Any]]:
    """Per account with a final invoice for ``period``: its number, id, currency and
    total including the final notes issued against it."""
    rows = ledger.connection.execute(
        """
        SELECT i.account, i.number, i.invoice_id, i.currency, i.total,
               (SELECT group_concat(n.total, ' ') FROM invoices n JOIN notes x
                  ON x.invoice_id = n.invoice_id
                WHERE x.corrects = i.invoice_id AND n.status = 'final')
        FROM invoices i
        WHERE i.period = ? AND i.kind = 'invoice' AND i.status = 'final'
        """,
        (period,),
    ).fetchall()
    found = {}
    for account, number, invoice_id, currency, total, notes in rows:
        amount = Decimal(total) + sum((Decimal(n) for n in (notes or "").split()), Decimal(0))
        found[account] = {
            "number": number,
            "invoice_id": invoice_id,
            "currency": currency,
            "total": str(amount),
        }
    return found


@dataclass
class ApplyReport:
    rerate_id: str
    notes: list[str] = field(default_factory=list)
    files_replaced: int = 0
    manifest: str | None = None


def apply_rerate(
    settings: Settings,
    ledger: Ledger,
    result: RerateResult,
    reason: str,
    *,
    today: dt.date | None = None,
) -> ApplyReport:
    """Commit ``result`` (see the module docstring). The caller holds the run lock."""
    report = ApplyReport(rerate_id=_stamp())
    check_templates(settings)
    if result.unchanged:
        # An apply killed after its commit left notes without PDFs: finish them.
        render_missing(settings, ledger, result.period)
        return report
    data = DataDir(settings.paths.data_dir)
    pieces = _new_pieces(result, report.rerate_id)
    written: list[Path] = []
    for piece in pieces:
        write_partition(piece.frame, data.root / piece.new.path, sync_directory=False)
        written.append(data.root / piece.new.path)
        if piece.new.kind == "rated":
            written.append(
                write_call_index(
                    piece.frame, data, data.root / piece.new.path, sync_directory=False
                )
            )
        if piece.old is not None:
            audit = data.root / "audit" / report.rerate_id / piece.old.path
            audit.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data.root / piece.old.path, audit)
            written.append(audit)
        checkpoint("rerate-file-written")
    sync_directories(written)
    issued = today or dt.date.today()
    manifest = data.root / "rerates" / f"{report.rerate_id}.json"
    write_json(_manifest(result, reason, report.rerate_id, issued), manifest)
    report.manifest = data.relative(manifest)
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with ledger.transaction() as connection:
        for piece in pieces:
            if piece.old is not None:
                connection.execute("DELETE FROM partition_files WHERE path = ?", (piece.old.path,))
            connection.execute(
                "INSERT INTO partition_files VALUES (?, ?, ?, ?, ?)",
                dataclasses.astuple(piece.new),
            )
            if piece.new.kind == "rated":
                connection.execute(
                    "DELETE FROM file_totals WHERE sha256 = ? AND period = ?",
                    (piece.new.sha256, piece.new.period),
                )
                connection.executemany(
                    "INSERT INTO file_totals VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (piece.new.sha256, piece.new.period, currency, calls, seconds, str(charge))
                        for currency, calls, seconds, charge in _totals(piece.frame)
                    ],
                )
        for change in _detailed(result):
            report.notes.append(
                _issue_note(connection, settings, ledger, change, reason, issued, created)
            )
        connection.execute(
            "INSERT INTO rerates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                report.rerate_id,
                result.period,
                result.account,
                reason,
                created,
                json.dumps(result.sheets_before, sort_keys=True),
                json.dumps(result.sheets_after, sort_keys=True),
                result.changes.height,
                report.manifest,
            ),
        )
        checkpoint("rerate-in-transaction")
    checkpoint("rerate-committed")
    for piece in pieces:
        if piece.old is not None and piece.old.path != piece.new.path:
            (data.root / piece.old.path).unlink(missing_ok=True)
            if piece.old.kind == "rated":
                data.index_of(data.root / piece.old.path).unlink(missing_ok=True)
    report.files_replaced = len(pieces)
    render_missing(settings, ledger, result.period)
    return report


def _detailed(result: RerateResult) -> list[AccountChange]:
    """The changes that need a note, with their new bills line by line."""
    noted = [c for c in result.accounts if c.invoice is not None and c.difference != 0]
    if not noted or result.after_setup is None:
        return noted
    setup = result.after_setup
    bills = bill_period(result.billing_calls, setup.rules, setup.plan, [c.account for c in noted])
    return [dataclasses.replace(c, after=bills.bill_of(c.account)) for c in noted]


@dataclass(frozen=True)
class _Piece:
    old: PartitionFile | None
    new: PartitionFile
    frame: pl.DataFrame


def _new_pieces(result: RerateResult, rerate_id: str) -> list[_Piece]:
    """The new version of every store file of the period that re-rating touched.

    Per input file: its rated rows out of scope are kept, the re-rated ones replace the
    rest; rejects that now rate leave its rejects file, rated calls that no longer rate
    join it (with their message; the raw line stays in the audit copy).
    """
    by_path = {p.path: p for p in result.partitions}
    touched = set(result.rated.get_column("_from").to_list()) | set(
        result.rejects.get_column("_from").to_list()
    )
    inputs = sorted({by_path[path].sha256 for path in touched if path in by_path})
    new_rejects = _reject_rows(result.rejects.filter(pl.col("_origin") == "rated"))
    pieces = []
    for sha256 in inputs:
        files = {p.kind: p for p in result.partitions if p.sha256 == sha256}
        sources = [p.path for p in files.values()]
        rated_here = result.rated.filter(pl.col("_from").is_in(sources))
        rescued = rated_here.filter(pl.col("_origin") == "rejects").select("file", "line")
        old_rated = _stored(result.stored_rated, files.get("rated"))
        if result.account is not None and not old_rated.is_empty():
            kept = old_rated.filter(pl.col("account") != result.account)
        else:
            kept = old_rated.clear()
        rated = _stack([kept, rated_here.drop("_from", "_origin")])
        old_rejects = _stored(result.stored_rejects, files.get("rejects"))
        if not old_rejects.is_empty() and not rescued.is_empty():
            old_rejects = old_rejects.join(rescued, on=["file", "line"], how="anti")
        rejects = _stack([old_rejects, new_rejects.filter(pl.col("_from").is_in(sources))])
        for kind, frame in (("rated", rated), ("rejects", rejects)):
            old = files.get(kind)
            if old is None and frame.is_empty():
                continue
            new = PartitionFile(
                f"{kind}/period={result.period}/{sha256[:16]}-{rerate_id}.parquet",
                sha256,
                kind,
                result.period,
                frame.height,
            )
            pieces.append(_Piece(old, new, frame.drop("_from", "_origin", strict=False)))
    return pieces


def _stored(frame: pl.DataFrame, partition: PartitionFile | None) -> pl.DataFrame:
    """The rows of ``frame`` read from ``partition`` (none when there is no such file)."""
    if partition is None or frame.is_empty():
        return pl.DataFrame()
    return frame.filter(pl.col("_from") == partition.path)


def _stack(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Rows of ``frames`` in input line order (frames without columns are skipped)."""
    present = [frame for frame in frames if frame.width]
    if not present:
        return pl.DataFrame()
    return pl.concat(present, how="diagonal_relaxed").sort("line", maintain_order=True)


def _reject_rows(outcome: pl.DataFrame) -> pl.DataFrame:
    """Rows that re-rating rejects, as the store keeps rejects (message, no raw line)."""
    if outcome.is_empty():
        return pl.DataFrame(schema={"_from": pl.String, "file": pl.String, "line": pl.Int64})
    rows = outcome.select(*reject_columns(outcome), "_from")
    finished = with_messages(rows)
    return finished.select(
        "file",
        "line",
        "call_id",
        "reason",
        "message",
        raw=pl.lit(None, pl.String),
        **{name: pl.col(name) for name in RERATE_FIELDS},
        _from=pl.col("_from"),
    )


def _totals(frame: pl.DataFrame) -> list[tuple[str, int, int, Decimal]]:
    if frame.is_empty():
        return []
    grouped = (
        frame.group_by("currency")
        .agg(pl.len(), pl.col("billable_s").sum(), pl.col("charge").sum())
        .sort("currency")
    )
    return [(c, int(n), int(s), Decimal(t).normalize()) for c, n, s, t in grouped.iter_rows()]


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


def _old_lines(ledger: Ledger, invoice_id: int) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """The lines billed so far: the invoice's and its final notes', summed per key."""
    rows = ledger.connection.execute(
        """
        SELECT l.kind, l.description, l.detail, coalesce(l.tax_rate, ''), l.amount,
               coalesce(l.calls, 0), coalesce(l.seconds, 0)
        FROM invoice_lines l JOIN invoices i ON i.invoice_id = l.invoice_id
        WHERE i.invoice_id = ?
           OR (i.status = 'final' AND i.invoice_id IN
               (SELECT invoice_id FROM notes WHERE corrects = ?))
        """,
        (invoice_id, invoice_id),
    )
    found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for kind, description, detail, tax, amount, calls, seconds in rows:
        line = found.setdefault(
            (kind, description, detail, tax), {"amount": Decimal(0), "calls": 0, "seconds": 0}
        )
        line["amount"] += Decimal(amount)
        line["calls"] += calls
        line["seconds"] += seconds
    return found


def _note_bill(change: AccountChange, old: dict[tuple[str, str, str, str], dict[str, Any]]) -> Bill:
    """The note of ``change``: per-line differences, tax effect per rate, new - billed."""
    assert change.after is not None
    new: dict[tuple[str, str, str, str], BillLine] = {
        (
            line.kind,
            line.description,
            line.detail,
            "" if line.tax_rate is None else str(line.tax_rate),
        ): line
        for line in change.after.lines
    }
    lines = []
    for key in sorted(set(new) | set(old)):
        after = new.get(key)
        before = old.get(key, {"amount": Decimal(0), "calls": 0, "seconds": 0})
        amount = (after.amount if after else Decimal(0)) - before["amount"]
        calls = ((after.calls or 0) if after else 0) - before["calls"]
        seconds = ((after.seconds or 0) if after else 0) - before["seconds"]
        if amount == 0 and calls == 0:
            continue
        kind, description, detail, rate_text = key
        lines.append(
            BillLine(
                kind=kind,
                description=description,
                detail=detail,
                calls=calls if kind in ("usage", "allowance") else None,
                quantity=minutes(seconds) if kind in ("usage", "allowance") else "",
                unit="min" if kind in ("usage", "allowance") else "",
                amount=amount,
                tax_rate=Decimal(rate_text) if rate_text else None,
                seconds=seconds,
            )
        )
    places = Decimal(1).scaleb(-change.currency_decimals)
    bases_new: dict[Decimal, Decimal] = {}
    bases_old: dict[Decimal, Decimal] = {}
    for line in change.after.lines:
        if line.tax_rate is not None:
            bases_new[line.tax_rate] = bases_new.get(line.tax_rate, Decimal(0)) + line.amount
    for (_, _, _, rate_text), billed in old.items():
        if rate_text:
            rate = Decimal(rate_text)
            bases_old[rate] = bases_old.get(rate, Decimal(0)) + billed["amount"]
    taxes = []
    for rate in sorted(set(bases_new) | set(bases_old), reverse=True):
        new_base, old_base = bases_new.get(rate, Decimal(0)), bases_old.get(rate, Decimal(0))
        effect = (new_base * rate).quantize(places, ROUND_HALF_UP) - (old_base * rate).quantize(
            places, ROUND_HALF_UP
        )
        if new_base != old_base or effect:
            taxes.append(TaxLine(rate, new_base - old_base, effect))
    subtotal = sum((item.amount for item in lines), Decimal(0))
    tax_total = sum((item.amount for item in taxes), Decimal(0))
    total = change.difference
    return dataclasses.replace(
        change.after,
        lines=tuple(lines),
        taxes=tuple(taxes),
        subtotal=subtotal,
        tax=tax_total,
        rounding=total - subtotal - tax_total,
        total=total,
    )


def _issue_note(
    connection: Any,
    settings: Settings,
    ledger: Ledger,
    change: AccountChange,
    reason: str,
    issued: dt.date,
    created: str,
) -> str:
    """Insert a final credit or debit note for ``change``; return its number."""
    original = find_invoice(ledger, change.invoice or "")
    bill = _note_bill(change, _old_lines(ledger, original.invoice_id))
    credit = change.difference < 0
    kind = "credit_note" if credit else "debit_note"
    billing = settings.billing
    prefix = billing.credit_note_prefix if credit else billing.debit_note_prefix
    number = next_number(connection, prefix, issued.year)
    document: InvoiceDocument = build_document(
        bill,
        billing.issuer,
        billing.timezone,
        status="final",
        number=number,
        issued_on=issued,
        due_on=None if credit else issued + dt.timedelta(days=billing.payment_terms_days),
        kind=kind,
        refers_to=original.number,
        reason=reason,
    )
    invoice_id = insert_invoice(connection, Draft(bill, document, None), created, "[]")
    connection.execute(
        "UPDATE invoices SET finalised_at = ?, document = ? WHERE invoice_id = ?",
        (created, document_to_json(document), invoice_id),
    )
    connection.execute(
        "INSERT INTO notes (invoice_id, corrects, reason) VALUES (?, ?, ?)",
        (invoice_id, original.invoice_id, reason),
    )
    return number


def stored_call(ledger: Ledger, data: DataDir, period: str, call_id: str) -> pl.DataFrame:
    """The stored row(s) of ``call_id`` in ``period``: rated, or a re-rateable reject
    (``_origin`` says which)."""
    found = []
    for partition in ledger.partition_files(periods=[period]):
        # Filtered in the scan: a month's partition can hold millions of calls.
        path = data.root / partition.path
        rows = pl.scan_parquet(path).filter(pl.col("call_id") == call_id).collect()
        if rows.height:
            found.append(
                rows.with_columns(_from=pl.lit(partition.path), _origin=pl.lit(partition.kind))
            )
    return pl.concat(found, how="diagonal_relaxed") if found else pl.DataFrame()


def price_again(stored: pl.DataFrame, setup: BillingSetup) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(rated, rejects)``: stored rows (from ``stored_call``) priced with ``setup``."""
    rated = stored.filter(pl.col("_origin") == "rated").drop("_origin")
    rejects = stored.filter(pl.col("_origin") == "rejects").drop("_origin")
    outcome = rate_outcome(_engine_input(rated, _retryable(rejects, None)).lazy(), setup.plan)
    frame = outcome.collect()
    again = frame.filter(pl.col("_reason").is_null()).select(rated_columns(frame))
    failed = with_messages(
        frame.filter(pl.col("_reason").is_not_null()).select(reject_columns(frame))
    )
    return again, failed
