"""Invoices and notes in the ledger: drafts, finalisation with gap-free numbers, void.

Life of an invoice: ``draft`` (regenerated freely, no number) → ``final`` (numbered,
never changed) → ``void`` (keeps its number). Numbers come from one sequence per issuer
prefix and year of issue (``INV-2026-000001``); a number is taken in the same
transaction that finalises the invoice, so a crash can neither skip nor reuse one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cdr_rating.billing.document import InvoiceDocument
from cdr_rating.billing.documents import document_from_json, document_to_json
from cdr_rating.billing.period import Bill
from cdr_rating.errors import UsageError
from cdr_rating.faults import checkpoint
from cdr_rating.ledger import Ledger
from cdr_rating.money import format_amount

KINDS = ("invoice", "credit_note", "debit_note")


class InvoiceNotFoundError(UsageError):
    """No invoice or note has the number asked for."""


class InvoiceStateError(UsageError):
    """The invoice is not in a state that allows what was asked (e.g. voiding a draft)."""


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice or note as the ledger keeps it (amounts as shown, exact text)."""

    invoice_id: int
    number: str | None
    kind: str
    refers_to: str | None
    account: str
    period: str
    status: str
    currency: str
    subtotal: str
    tax: str
    total: str
    issued_on: str | None
    due_on: str | None
    pdf: str | None
    html: str | None
    calls: str | None
    document: str
    void_reason: str | None
    # sha256 of the files above (null: not recorded, written before ledger schema 4)
    calls_checksum: str | None = None
    html_checksum: str | None = None
    pdf_checksum: str | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON object of ``invoice list`` (ARCHITECTURE.md section 8)."""
        return {
            "number": self.number,
            "kind": self.kind,
            "refers_to": self.refers_to,
            "account": self.account,
            "period": self.period,
            "status": self.status,
            "currency": self.currency,
            "subtotal": self.subtotal,
            "tax": self.tax,
            "total": self.total,
            "issued_on": self.issued_on,
            "due_on": self.due_on,
            "pdf": self.pdf,
            "void_reason": self.void_reason,
        }

    def to_document(self) -> InvoiceDocument:
        return document_from_json(self.document)


_SELECT = """
SELECT i.invoice_id, i.number, i.kind, o.number, i.account, i.period, i.status, i.currency,
       i.subtotal, i.tax, i.total, i.issued_on, i.due_on, i.pdf, i.html, i.calls,
       i.document, i.void_reason, i.calls_checksum, i.html_checksum, i.pdf_checksum
FROM invoices i
LEFT JOIN notes n ON n.invoice_id = i.invoice_id
LEFT JOIN invoices o ON o.invoice_id = n.corrects
"""


def list_invoices(
    ledger: Ledger,
    *,
    period: str | None = None,
    account: str | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> list[InvoiceRecord]:
    """Invoices and notes, numbered ones in number order, then drafts by account."""
    conditions, parameters = [], []
    for column, value in (
        ("i.period", period),
        ("i.account", account),
        ("i.status", status),
        ("i.kind", kind),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            parameters.append(value)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    order = " ORDER BY i.number IS NULL, i.period, i.number, i.account, i.invoice_id"
    rows = ledger._connection.execute(_SELECT + where + order, parameters)
    return [InvoiceRecord(*row) for row in rows]


def find_invoice(ledger: Ledger, number: str) -> InvoiceRecord:
    row = ledger._connection.execute(_SELECT + " WHERE i.number = ?", (number,)).fetchone()
    if row is None:
        raise InvoiceNotFoundError(
            f"no invoice or note numbered {number!r}; list them with cdr-rating invoice list"
        )
    return InvoiceRecord(*row)


def invoice_lines(ledger: Ledger, invoice_id: int) -> list[dict[str, Any]]:
    """The lines of one invoice, as in the JSON of ``invoice show``."""
    rows = ledger._connection.execute(
        "SELECT kind, description, detail, calls, quantity, unit, amount, tax_rate "
        "FROM invoice_lines WHERE invoice_id = ? ORDER BY line_no",
        (invoice_id,),
    )
    keys = ("kind", "description", "detail", "calls", "quantity", "unit", "amount", "tax_rate")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def final_accounts(ledger: Ledger, period: str) -> set[str]:
    """Accounts whose invoice for ``period`` is final (they get nothing new on close)."""
    rows = ledger._connection.execute(
        "SELECT account FROM invoices WHERE period = ? AND kind = 'invoice' AND status = 'final'",
        (period,),
    )
    return {row[0] for row in rows}


@dataclass(frozen=True)
class Draft:
    bill: Bill
    document: InvoiceDocument
    calls: str | None  # the Parquet file (in data_dir) holding its itemised calls
    calls_checksum: str | None = None  # that file's sha256


def save_drafts(
    ledger: Ledger, period: str, drafts: Sequence[Draft], created_at: str, sheets: str
) -> None:
    """Replace the period's draft invoices by ``drafts``, in one transaction."""
    with ledger.transaction() as connection:
        old = [
            row[0]
            for row in connection.execute(
                "SELECT invoice_id FROM invoices WHERE period = ? AND kind = 'invoice' "
                "AND status = 'draft'",
                (period,),
            )
        ]
        connection.executemany(
            "DELETE FROM invoice_lines WHERE invoice_id = ?", [(i,) for i in old]
        )
        connection.executemany("DELETE FROM invoices WHERE invoice_id = ?", [(i,) for i in old])
        for draft in drafts:
            insert_invoice(connection, draft, created_at, sheets)
        checkpoint("drafts-in-transaction")


def insert_invoice(
    connection: sqlite3.Connection, draft: Draft, created_at: str, sheets: str
) -> int:
    document, bill = draft.document, draft.bill
    cursor = connection.execute(
        "INSERT INTO invoices (number, kind, account, period, status, currency, subtotal, tax, "
        "total, issued_on, due_on, pdf, created_at, document, calls, sheets, calls_checksum) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
        (
            document.number,
            document.kind,
            document.account,
            document.period,
            document.status,
            document.currency,
            document.subtotal,
            document.tax,
            document.total,
            document.issued_on or None,
            document.due_on or None,
            created_at,
            document_to_json(document),
            draft.calls,
            sheets,
            draft.calls_checksum,
        ),
    )
    invoice_id = int(cursor.lastrowid or 0)
    connection.executemany(
        "INSERT INTO invoice_lines (invoice_id, line_no, kind, description, quantity, unit, "
        "amount, tax_rate, detail, calls, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                invoice_id,
                number,
                line.kind,
                line.description,
                line.quantity,
                line.unit,
                format_amount(line.amount, bill.decimals),
                None if line.tax_rate is None else str(line.tax_rate),
                line.detail,
                line.calls,
                line.seconds,
            )
            for number, line in enumerate(bill.lines, start=1)
        ],
    )
    return invoice_id


def next_number(connection: sqlite3.Connection, prefix: str, year: int) -> str:
    """The next number of ``PREFIX-YEAR``; call inside the transaction that uses it."""
    name = f"{prefix}-{year:04d}"
    connection.execute("INSERT OR IGNORE INTO sequences (name, last_value) VALUES (?, 0)", (name,))
    connection.execute("UPDATE sequences SET last_value = last_value + 1 WHERE name = ?", (name,))
    row = connection.execute("SELECT last_value FROM sequences WHERE name = ?", (name,)).fetchone()
    return f"{name}-{int(row[0]):06d}"


def finalise_drafts(
    ledger: Ledger,
    period: str,
    *,
    prefix: str,
    issued_on: dt.date,
    due_on: dt.date,
    finalised_at: str,
) -> list[InvoiceRecord]:
    """Number and finalise every draft invoice of ``period`` (in account order), in one
    transaction; return the invoices finalised."""
    drafts = list_invoices(ledger, period=period, status="draft", kind="invoice")
    with ledger.transaction() as connection:
        for draft in sorted(drafts, key=lambda record: record.account):
            number = next_number(connection, prefix, issued_on.year)
            document = dataclasses.replace(
                draft.to_document(),
                status="final",
                number=number,
                issued_on=f"{issued_on:%Y-%m-%d}",
                due_on=f"{due_on:%Y-%m-%d}",
            )
            connection.execute(
                "UPDATE invoices SET number = ?, status = 'final', issued_on = ?, due_on = ?, "
                "finalised_at = ?, document = ? WHERE invoice_id = ? AND status = 'draft'",
                (
                    number,
                    document.issued_on,
                    document.due_on,
                    finalised_at,
                    document_to_json(document),
                    draft.invoice_id,
                ),
            )
        checkpoint("finalise-in-transaction")
    ids = {draft.invoice_id for draft in drafts}
    return [record for record in list_invoices(ledger, period=period) if record.invoice_id in ids]


@dataclass(frozen=True)
class Rendering:
    """Where an invoice's PDF and HTML are, and their sha256."""

    invoice_id: int
    pdf: str
    html: str
    pdf_checksum: str
    html_checksum: str


def record_rendering(ledger: Ledger, rendered: Iterable[Rendering]) -> None:
    """Remember where each invoice's PDF and HTML are, and their checksums."""
    with ledger.transaction() as connection:
        connection.executemany(
            "UPDATE invoices SET pdf = ?, html = ?, pdf_checksum = ?, html_checksum = ? "
            "WHERE invoice_id = ?",
            [(r.pdf, r.html, r.pdf_checksum, r.html_checksum, r.invoice_id) for r in rendered],
        )


def void_invoice(ledger: Ledger, number: str, reason: str, voided_at: str) -> InvoiceRecord:
    """Mark a final invoice or note void; its number stays used.

    Raises:
        InvoiceNotFoundError, InvoiceStateError: nothing numbered so, or not final.
    """
    record = find_invoice(ledger, number)
    if record.status != "final":
        raise InvoiceStateError(f"{number} is {record.status}; only a final invoice can be voided")
    if not reason.strip():
        raise InvoiceStateError("give the reason for voiding with --reason TEXT")
    document = dataclasses.replace(record.to_document(), status="void", void_reason=reason)
    with ledger.transaction() as connection:
        connection.execute(
            "UPDATE invoices SET status = 'void', voided_at = ?, void_reason = ?, document = ? "
            "WHERE invoice_id = ? AND status = 'final'",
            (voided_at, reason, document_to_json(document), record.invoice_id),
        )
    return find_invoice(ledger, number)


def sheets_json(references: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(references), sort_keys=True)


def appendix_files(ledger: Ledger) -> set[str]:
    """The itemised-call files (paths in the data directory) that invoices refer to."""
    rows = ledger._connection.execute("SELECT calls FROM invoices WHERE calls IS NOT NULL")
    return {row[0] for row in rows}


def document_files(ledger: Ledger) -> list[tuple[str, str]]:
    """``(number, path)`` of every PDF and HTML file the ledger says it issued."""
    rows = ledger._connection.execute(
        "SELECT number, pdf, html FROM invoices WHERE number IS NOT NULL ORDER BY number"
    )
    return [(number, path) for number, *paths in rows for path in paths if path is not None]


def numbering_gaps(ledger: Ledger) -> list[str]:
    """Per number series (``INV-2026``), the numbers its sequence handed out that no
    invoice or note carries, and the numbers beyond the sequence: a series is gap-free
    when this is empty."""
    connection = ledger._connection
    problems = []
    for name, last in connection.execute("SELECT name, last_value FROM sequences ORDER BY name"):
        numbers = {
            row[0]
            for row in connection.execute(
                "SELECT number FROM invoices WHERE number LIKE ? ESCAPE '\\'",
                (name.replace("_", "\\_").replace("%", "\\%") + "-%",),
            )
        }
        expected = {f"{name}-{value:06d}" for value in range(1, int(last) + 1)}
        missing, extra = sorted(expected - numbers), sorted(numbers - expected)
        if missing:
            problems.append(
                f"series {name}: {len(missing)} numbers issued but not in the ledger "
                f"(first {missing[0]})"
            )
        if extra:
            problems.append(
                f"series {name}: {len(extra)} numbers beyond its sequence ({last}) "
                f"(first {extra[0]})"
            )
    return problems


__all__ = [
    "Draft",
    "InvoiceNotFoundError",
    "InvoiceRecord",
    "InvoiceStateError",
    "Rendering",
    "appendix_files",
    "document_files",
    "final_accounts",
    "finalise_drafts",
    "find_invoice",
    "invoice_lines",
    "list_invoices",
    "next_number",
    "numbering_gaps",
    "record_rendering",
    "save_drafts",
    "void_invoice",
]
