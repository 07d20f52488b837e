"""Invoices and notes as the commands show and change them: the ledger, the store's
PDFs and the run lock together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdr_rating.config import Settings
from cdr_rating.errors import UsageError
from cdr_rating.jobs.close import render_missing
from cdr_rating.jobs.setup import now
from cdr_rating.jobs.verify import damaged
from cdr_rating.ledger import Ledger
from cdr_rating.ledger.invoices import (
    InvoiceRecord,
    find_invoice,
    invoice_lines,
    list_invoices,
    void_invoice,
)
from cdr_rating.store import DataDir, RunLock, file_sha256


def read_ledger(settings: Settings) -> Ledger:
    """A private snapshot of the ledger, for commands that only read it."""
    data = DataDir(settings.paths.data_dir)
    if not data.ledger.is_file():
        raise UsageError(
            f"{data.ledger}: no ledger yet; run cdr-rating run first (key 'paths.data_dir')"
        )
    return Ledger.snapshot(data.ledger)


def invoices(
    settings: Settings,
    *,
    period: str | None = None,
    account: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """``invoice list``: the summary of every invoice and note that matches."""
    with read_ledger(settings) as ledger:
        records = list_invoices(ledger, period=period, account=account, status=status)
    return [record.summary() for record in records]


def invoice(settings: Settings, number: str) -> tuple[InvoiceRecord, dict[str, Any]]:
    """``invoice show``: one invoice or note, and its summary with its lines."""
    with read_ledger(settings) as ledger:
        record = find_invoice(ledger, number)
        summary = {**record.summary(), "lines": invoice_lines(ledger, record.invoice_id)}
    return record, summary


def stored_pdf(settings: Settings, record: InvoiceRecord) -> Path | None:
    """The PDF issued for ``record``, if it is there.

    Raises:
        StoredFileError: it differs from the checksum recorded when it was rendered.
    """
    if record.pdf is None:
        return None
    path = DataDir(settings.paths.data_dir).root / record.pdf
    if not path.is_file():
        return None
    if record.pdf_checksum is not None and file_sha256(path) != record.pdf_checksum:
        raise damaged(path)
    return path


def void(settings: Settings, number: str, reason: str) -> InvoiceRecord:
    """Void a final invoice or note (under the run lock) and render it again."""
    data = DataDir(settings.paths.data_dir)
    with RunLock(data.root), Ledger.open(data.ledger) as ledger:
        record = void_invoice(ledger, number, reason, now())
        render_missing(settings, ledger, numbers=[number], workers=1)
    return record
