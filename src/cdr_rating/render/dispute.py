"""The dispute report as CSV, HTML and PDF, with the invoices' templates machinery."""

from __future__ import annotations

from pathlib import Path

import jinja2
import polars as pl

from cdr_rating.billing.document import DisputeDocument
from cdr_rating.errors import RenderError
from cdr_rating.render.html import environment, stylesheet_text
from cdr_rating.render.pdf import pdf_from_html
from cdr_rating.store import write_atomically, write_frame

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
    """``dispute-ACCOUNT-PERIOD.csv``, ``.html`` and ``.pdf`` in ``directory``."""
    stem = directory / f"dispute-{document.account}-{document.period}"
    csv, html, pdf = (stem.with_suffix(suffix) for suffix in (".csv", ".html", ".pdf"))
    write_frame(calls, csv)
    text = render_dispute_html(document, templates_dir).encode("utf-8")
    data = pdf_from_html(
        render_dispute_html(document, templates_dir, embed_stylesheet=False), templates_dir
    )
    for path, content in ((html, text), (pdf, data)):
        _write_bytes(path, content)
    return [csv, html, pdf]


def _write_bytes(path: Path, content: bytes) -> None:
    def write(target: Path) -> None:
        target.write_bytes(content)

    write_atomically(path, write)
