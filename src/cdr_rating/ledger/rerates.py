"""Re-ratings in the ledger: what was billed so far, and committing a re-rating with the
notes that settle it, in one transaction."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cdr_rating.billing.rerate import Invoiced, LineKey
from cdr_rating.faults import checkpoint
from cdr_rating.ledger import PARTITION_INSERT, FileTotal, Ledger, PartitionFile
from cdr_rating.ledger.invoices import Draft, insert_invoice, next_number


def invoiced_totals(ledger: Ledger, period: str) -> dict[str, Invoiced]:
    """Per account with a final invoice for ``period``: that invoice, its total
    including the final notes issued against it."""
    rows = ledger._connection.execute(
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
    return {
        account: Invoiced(
            account,
            number,
            invoice_id,
            currency,
            Decimal(total) + sum((Decimal(n) for n in (notes or "").split()), Decimal(0)),
        )
        for account, number, invoice_id, currency, total, notes in rows
    }


def billed_lines(ledger: Ledger, invoice_id: int) -> dict[LineKey, dict[str, Any]]:
    """The lines billed so far: the invoice's and its final notes', summed per key
    (``amount``, ``calls``, ``seconds``)."""
    rows = ledger._connection.execute(
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
    found: dict[LineKey, dict[str, Any]] = {}
    for kind, description, detail, tax, amount, calls, seconds in rows:
        line = found.setdefault(
            (kind, description, detail, tax), {"amount": Decimal(0), "calls": 0, "seconds": 0}
        )
        line["amount"] += Decimal(amount)
        line["calls"] += calls
        line["seconds"] += seconds
    return found


@dataclass(frozen=True)
class ReplacedFile:
    """A store file a re-rating replaces (``old`` None: a new file) and its new totals."""

    old: PartitionFile | None
    new: PartitionFile
    totals: Sequence[FileTotal]


@dataclass(frozen=True)
class NoteRequest:
    """A note to issue: its sequence, the invoice it corrects, and how to build it once
    its number is known."""

    prefix: str
    year: int
    corrects: int
    reason: str
    draft: Callable[[str], Draft]


@dataclass(frozen=True)
class RerateRecord:
    rerate_id: str
    period: str
    account: str | None
    reason: str
    applied_at: str
    sheets_before: list[dict[str, str]]
    sheets_after: list[dict[str, str]]
    calls_changed: int
    manifest: str


def commit_rerate(
    ledger: Ledger,
    files: Sequence[ReplacedFile],
    notes: Sequence[NoteRequest],
    record: RerateRecord,
) -> list[str]:
    """Point the ledger at the new store files, issue the notes (numbers from their
    sequences) and record the re-rating, all in one transaction; return the note
    numbers."""
    numbers: list[str] = []
    with ledger.transaction() as connection:
        for file in files:
            if file.old is not None:
                connection.execute("DELETE FROM partition_files WHERE path = ?", (file.old.path,))
            connection.execute(PARTITION_INSERT, dataclasses.astuple(file.new))
            if file.new.kind == "rated":
                connection.execute(
                    "DELETE FROM file_totals WHERE sha256 = ? AND period = ?",
                    (file.new.sha256, file.new.period),
                )
                connection.executemany(
                    "INSERT INTO file_totals VALUES (?, ?, ?, ?, ?, ?)",
                    [(*dataclasses.astuple(t)[:5], str(t.charge)) for t in file.totals],
                )
        for note in notes:
            number = next_number(connection, note.prefix, note.year)
            draft = note.draft(number)
            invoice_id = insert_invoice(connection, draft, record.applied_at, "[]")
            connection.execute(
                "UPDATE invoices SET finalised_at = ? WHERE invoice_id = ?",
                (record.applied_at, invoice_id),
            )
            connection.execute(
                "INSERT INTO notes (invoice_id, corrects, reason) VALUES (?, ?, ?)",
                (invoice_id, note.corrects, note.reason),
            )
            numbers.append(number)
        connection.execute(
            "INSERT INTO rerates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.rerate_id,
                record.period,
                record.account,
                record.reason,
                record.applied_at,
                json.dumps(record.sheets_before, sort_keys=True),
                json.dumps(record.sheets_after, sort_keys=True),
                record.calls_changed,
                record.manifest,
            ),
        )
        checkpoint("rerate-in-transaction")
    return numbers
