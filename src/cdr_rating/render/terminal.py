"""Invoices in the terminal: rich tables built from the same strings as the PDF."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cdr_rating.billing.document import InvoiceDocument, Line


def invoice_table(document: InvoiceDocument) -> RenderableType:
    """The header facts, every line, the taxes and the total."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(document.title, document.number or "(draft: not numbered)")
    if document.refers_to:
        facts.add_row("Refers to", document.refers_to)
    facts.add_row("Customer", f"{document.customer.name} ({document.account})")
    facts.add_row(
        "Period", f"{document.period_label} ({document.period_start} to {document.period_end})"
    )
    if document.issued_on:
        due = f" / {document.due_on}" if document.due_on else ""
        facts.add_row("Issued / due" if due else "Issued", document.issued_on + due)
    if document.status == "void":
        facts.add_row("Status", Text(f"VOID: {document.void_reason}", style="bold red"))
    lines = Table(show_edge=False, pad_edge=False, header_style="bold")
    lines.add_column("Description")
    lines.add_column("Band / detail")
    lines.add_column("Calls", justify="right")
    lines.add_column("Quantity", justify="right")
    lines.add_column("Tax", justify="right")
    lines.add_column(f"Amount {document.currency}", justify="right")
    _add(lines, document.usage)
    for section in (document.allowances, document.fees, document.adjustments):
        if section:
            lines.add_section()
            _add(lines, section)
    lines.add_section()
    lines.add_row("Subtotal", "", "", "", "", document.subtotal)
    for tax in document.taxes:
        lines.add_row(f"Tax {tax.rate} on {tax.base}", "", "", "", "", tax.amount)
    if document.rounding:
        lines.add_row("Rounding", "", "", "", "", document.rounding)
    lines.add_row(Text("Total", style="bold"), "", "", "", "", Text(document.total, style="bold"))
    return Group(facts, Text(""), lines)


def _add(table: Table, lines: Sequence[Line]) -> None:
    for line in lines:
        table.add_row(
            line.description,
            line.detail,
            "" if line.calls is None else str(line.calls),
            f"{line.quantity} {line.unit}".strip(),
            line.tax_rate,
            line.amount,
        )


def invoices_table(rows: Sequence[dict[str, object]]) -> Table:
    """``invoice list``: one row per invoice or note (``--format json`` has every field)."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for name in ("Number", "Kind", "Refers to", "Account", "Period", "Status"):
        table.add_column(name, no_wrap=True)
    table.add_column("Total", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["number"] or "(draft)"),
            str(row["kind"]).replace("_", " "),
            str(row["refers_to"] or ""),
            str(row["account"]),
            str(row["period"]),
            str(row["status"]),
            f"{row['total']} {row['currency']}",
        )
    return table
