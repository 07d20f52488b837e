"""``cdr-rating invoice``: preview, list, show and void invoices and notes."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cdr_rating.billing.document import InvoiceDocument
from cdr_rating.billing.documents import bill_lines
from cdr_rating.cli.console import command_group, data_console, error_console
from cdr_rating.cli.files import shown_path, write_output
from cdr_rating.config import Settings, load_settings
from cdr_rating.errors import UsageError
from cdr_rating.jobs import invoices as jobs
from cdr_rating.jobs.close import preview
from cdr_rating.names import check_name
from cdr_rating.periods import period_bounds

invoice_app = command_group(help="Preview, list, show and void invoices.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Configuration file (default: ./cdr-rating.toml)."),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Write to this file instead of stdout.")
]


class DocumentFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    HTML = "html"
    PDF = "pdf"


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class Status(StrEnum):
    DRAFT = "draft"
    FINAL = "final"
    VOID = "void"


@invoice_app.command("preview")
def preview_command(
    account: Annotated[str, typer.Argument(help="The account.", show_default=False)],
    period: Annotated[str, typer.Option("--period", help="Billing period YYYY-MM.")],
    output: Annotated[
        DocumentFormat, typer.Option("--format", help="table, json, html or pdf.")
    ] = DocumentFormat.TABLE,
    out: OutOption = None,
    config: ConfigOption = None,
) -> None:
    """What the account's invoice for the period would be now (a draft; nothing is written)."""
    check_name(account, "ACCOUNT")
    settings = load_settings(config)
    period_bounds(period, settings.billing.timezone)
    bill, document = preview(settings, account, period)
    summary = {
        "number": None,
        "kind": "invoice",
        "refers_to": None,
        "account": account,
        "period": period,
        "status": "draft",
        "currency": document.currency,
        "subtotal": document.subtotal,
        "tax": document.tax,
        "total": document.total,
        "issued_on": None,
        "due_on": None,
        "pdf": None,
        "void_reason": None,
        "lines": bill_lines(bill),
    }
    _emit(settings, document, summary, output, out)


@invoice_app.command("list")
def list_command(
    period: Annotated[
        str | None, typer.Option("--period", help="Only this billing period (YYYY-MM).")
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    status: Annotated[Status | None, typer.Option("--status", help="Only this status.")] = None,
    output: Annotated[ListFormat, typer.Option("--format", help="table or json.")] = (
        ListFormat.TABLE
    ),
    config: ConfigOption = None,
) -> None:
    """Invoices and credit and debit notes in the ledger."""
    if account is not None:
        check_name(account, "--account")
    settings = load_settings(config)
    if period is not None:
        period_bounds(period, settings.billing.timezone)  # a usage error unless YYYY-MM
    rows = [
        _shown(settings, row)
        for row in jobs.invoices(
            settings, period=period, account=account, status=None if status is None else str(status)
        )
    ]
    if output is ListFormat.JSON:
        _print_json(rows)
    elif rows:
        from cdr_rating.render.terminal import invoices_table  # noqa: PLC0415

        data_console.print(invoices_table(rows))
    else:
        error_console.print("no invoices", markup=False)


@invoice_app.command("show")
def show_command(
    number: Annotated[str, typer.Argument(help="Invoice or note number.", show_default=False)],
    output: Annotated[
        DocumentFormat, typer.Option("--format", help="table, json, html or pdf.")
    ] = DocumentFormat.TABLE,
    out: OutOption = None,
    config: ConfigOption = None,
) -> None:
    """One invoice or note as it was issued."""
    settings = load_settings(config)
    record, found = jobs.invoice(settings, number)
    summary = {**_shown(settings, found), "lines": found["lines"]}
    pdf = jobs.stored_pdf(settings, record)
    if output is DocumentFormat.PDF and pdf is not None:
        _write_bytes(pdf.read_bytes(), out)
        return
    _emit(settings, record.to_document(), summary, output, out)


@invoice_app.command("void")
def void_command(
    number: Annotated[str, typer.Argument(help="Invoice or note number.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why it is void (kept on record).")],
    config: ConfigOption = None,
) -> None:
    """Void a final invoice or note; its number stays used. Close the period again to
    issue a new invoice in its place."""
    settings = load_settings(config)
    record = jobs.void(settings, number, reason)
    error_console.print(f"{record.number} is void: {reason}", markup=False, highlight=False)


def _shown(settings: Settings, summary: dict[str, Any]) -> dict[str, Any]:
    """An invoice's summary with its PDF as an absolute path (stored: in the data dir)."""
    return {**summary, "pdf": shown_path(settings.paths.data_dir, summary["pdf"])}


def _emit(
    settings: Settings,
    document: InvoiceDocument,
    summary: dict[str, Any],
    output: DocumentFormat,
    out: Path | None,
) -> None:
    templates = settings.paths.templates
    if output is DocumentFormat.JSON:
        _write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", out)
    elif output is DocumentFormat.HTML:
        from cdr_rating.render import render_html  # noqa: PLC0415 (loads WeasyPrint: slow)

        _write_text(render_html(document, templates), out)
    elif output is DocumentFormat.PDF:
        from cdr_rating.render import render_pdf  # noqa: PLC0415

        if out is None and sys.stdout.isatty():
            raise UsageError("a PDF is not for the terminal: pass --out FILE (or redirect stdout)")
        _write_bytes(render_pdf(document, templates), out)
    elif out is not None:
        raise UsageError("--out needs --format json, html or pdf")
    else:
        from cdr_rating.render.terminal import invoice_table  # noqa: PLC0415

        data_console.print(invoice_table(document))


def _print_json(data: Any) -> None:
    _write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", None)


def _write_text(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        write_output(out, "--out", lambda path: path.write_text(text, encoding="utf-8"))


def _write_bytes(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        write_output(out, "--out", lambda path: path.write_bytes(data))
