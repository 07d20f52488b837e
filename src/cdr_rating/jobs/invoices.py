"""Invoices and notes as the commands show and change them: the ledger, the store's
PDFs and the run lock together.

Voiding, under the run lock:

1. write a journal naming the invoice (``cdr_rating.store.journal``);
2. mark it void in the ledger (one transaction);
3. render its HTML and PDF again, now with the VOID banner, and record them;
4. remove the journal.

Killed before step 2 commits, nothing is void and the next writer (``run``, ``rerate
--apply``, ``invoice void``) drops the journal; after it, the next writer finishes
steps 3 and 4 (:func:`finish_voids`), so a void invoice never keeps the PDF of a final
one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cdr_rating.config import Settings
from cdr_rating.errors import CdrRatingError
from cdr_rating.faults import checkpoint
from cdr_rating.jobs.books import existing_ledger, open_ledger
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
from cdr_rating.store import DataDir, RunLock, clear_journal, file_sha256, journals, write_journal

log = logging.getLogger(__name__)


def read_ledger(settings: Settings) -> Ledger:
    """A private snapshot of the ledger, for commands that only read it."""
    return existing_ledger(settings)


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
    """Void a final invoice or note (under the run lock) and render it again (see the
    module docstring)."""
    data = DataDir(settings.paths.data_dir)
    with RunLock(data.root), open_ledger(settings) as ledger:
        finish_voids(settings, ledger)
        invoice_id = find_invoice(ledger, number).invoice_id
        journal = write_journal(data, "void", str(invoice_id), [number])
        checkpoint("void-journal-written")
        try:
            record = void_invoice(ledger, number, reason, now())
        except CdrRatingError:
            clear_journal(journal)  # refused: nothing to finish
            raise
        checkpoint("void-committed")
        render_missing(settings, ledger, numbers=[number], workers=1)
        checkpoint("void-rendered")
        clear_journal(journal)
    return record


def finish_voids(settings: Settings, ledger: Ledger) -> list[str]:
    """Finish the voids an interrupted ``invoice void`` left (its journal says which):
    render the voided invoices again; return their numbers. The caller holds the run
    lock."""
    finished = []
    for journal in journals(DataDir(settings.paths.data_dir), "void"):
        voided = [
            number for number in journal.entries if find_invoice(ledger, number).status == "void"
        ]
        if voided:
            render_missing(settings, ledger, numbers=voided, workers=1)
            log.warning("finished voiding %s, interrupted before its PDF", ", ".join(voided))
        finished += voided
        clear_journal(journal)
    return finished
