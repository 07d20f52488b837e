"""The dispute report as CSV, HTML and PDF, with the invoices' templates machinery."""

from __future__ import annotations

from pathlib import Path

import jinja2
import polars as pl

from cdr_rating.billing.document import DisputeDocument
from cdr_rating.errors import RenderError
from cdr_rating.names import output_path
from cdr_rating.output import for_people
from cdr_rating.render.html import environment, stylesheet_text
from cdr_rating.render.pdf import pdf_from_html
from cdr_rating.store import write_bytes, write_frame

TEMPLATE = "dispute.html.j2"


def render_dispute_html(
    document: DisputeDocument, templates_dir: Path, *, embed_stylesheet: bool = True
) -> str:
    root = templates_dir.resolve()
    try:
        template = environment(root).get_template(TEMPLATE)
        stylesheet = stylesheet_text(root) if embed_stylesheet else None
        return template.render(doc=document, stylesheet=stylesheet)
    except (jinja2.TemplateError, OSError) as error:
        raise RenderError(f"{root / TEMPLATE}: {error}") from error


def write_dispute(
    document: DisputeDocument, calls: pl.DataFrame, directory: Path, templates_dir: Path
) -> list[Path]:
    """``dispute-ACCOUNT-PERIOD.csv``, ``.html`` and ``.pdf`` in ``directory``; the CSV
    goes to the customer, so its cells cannot start a spreadsheet formula."""
    stem = f"dispute-{document.account}-{document.period}"
    csv, html, pdf = (output_path(directory, stem + suffix) for suffix in (".csv", ".html", ".pdf"))
    write_frame(for_people(calls), csv)
    write_bytes(html, render_dispute_html(document, templates_dir).encode("utf-8"))
    page = render_dispute_html(document, templates_dir, embed_stylesheet=False)
    write_bytes(pdf, pdf_from_html(page, templates_dir))
    return [csv, html, pdf]
