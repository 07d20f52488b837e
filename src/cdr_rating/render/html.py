"""An invoice as HTML: one autoescaping, strict Jinja environment per templates folder.

The template only places values: every amount arrives formatted in the
``InvoiceDocument``. The itemised appendix is the exception that needs help from
Python, for speed: WeasyPrint spends about half a millisecond on every table cell, so
5,000 calls of 9 cells take about 30 s to lay out and draw. Each call is therefore one
preformatted line of fixed-width columns in a monospaced font (one text line per call,
not nine boxes), and the calls are cut into pages here, each page with its own column
header, so that the header repeats on every page and the layout stays linear.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from cdr_rating.billing.document import CallRow, InvoiceDocument
from cdr_rating.errors import RenderError

TEMPLATE = "invoice.html.j2"
STYLESHEET = "invoice.css"

# Calls per appendix page, with the fixed heights of the appendix in invoice.css: 59
# lines fill an A4 page exactly; one is left free so that a line made taller by a
# fallback font cannot push a page over. tests/test_render.py checks that none does.
CALLS_PER_PAGE = 58

ELLIPSIS = "…"
COLUMN_GAP = "  "


def describe(document: InvoiceDocument) -> str:
    """How errors name a document: its number, or its account and period when it has none."""
    if document.number:
        return f"{document.title.lower()} {document.number}"
    return f"{document.title.lower()} of account {document.account} for {document.period}"


@dataclass(frozen=True)
class CallColumn:
    """One column of the appendix: its header, the ``CallRow`` field, width in characters.

    ``right`` aligns numbers; ``keep_end`` cuts a value too long from the left, for
    phone numbers, whose last digits are the ones a customer checks (and the only ones
    a masked caller shows).
    """

    title: str
    field: str
    width: int
    right: bool = False
    keep_end: bool = False

    def cell(self, value: str) -> str:
        """``value`` padded to the column's width, or cut with an ellipsis if longer.

        Runs of whitespace (a newline or tab in a destination name) become one space:
        anything else would break the line or shift the columns after it.
        """
        value = " ".join(value.split())
        if len(value) > self.width and self.keep_end:
            value = ELLIPSIS + value[len(value) - self.width + 1 :]
        elif len(value) > self.width:
            value = value[: self.width - 1] + ELLIPSIS
        return value.rjust(self.width) if self.right else value.ljust(self.width)


# 129 characters: what fits the width of an A4 page in invoice.css's .calls font.
# Numbers get 16, a + and the 15 digits of the longest E.164 number.
CALL_COLUMNS = (
    CallColumn("Start", "start", 19),
    CallColumn("Caller", "caller", 16, keep_end=True),
    CallColumn("Number", "number", 16, keep_end=True),
    CallColumn("Destination", "destination", 21),
    CallColumn("Band", "band", 7),
    CallColumn("Duration", "duration", 8, right=True),
    CallColumn("Billed s", "billable_s", 8, right=True),
    CallColumn("Allow. s", "allowance_s", 8, right=True),
    CallColumn("Charge", "charge", 10, right=True),
)


@dataclass(frozen=True)
class CallPage:
    """One page of the appendix: its column header and its calls, as text lines."""

    header: str
    lines: list[str]


def call_line(call: CallRow) -> str:
    """A call as one line of fixed-width columns."""
    return COLUMN_GAP.join(column.cell(getattr(call, column.field)) for column in CALL_COLUMNS)


def call_header(currency: str) -> str:
    """The column titles, aligned like :func:`call_line`; charges are in ``currency``."""
    titles = {"charge": f"Charge {currency}"}
    return COLUMN_GAP.join(
        column.cell(titles.get(column.field, column.title)) for column in CALL_COLUMNS
    )


def call_pages(
    calls: Sequence[CallRow], currency: str, per_page: int = CALLS_PER_PAGE
) -> list[CallPage]:
    """The calls cut into pages of ``per_page`` lines (at least one page, maybe empty)."""
    header = call_header(currency)
    lines = [call_line(call) for call in calls]
    starts = range(0, max(len(lines), 1), per_page)
    return [CallPage(header, lines[start : start + per_page]) for start in starts]


def address_lines(address: str) -> list[str]:
    """An address as printed: one line per comma-separated part, empty parts dropped."""
    return [part.strip() for part in address.split(",") if part.strip()]


@functools.cache
def _environment(root: Path) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["address_lines"] = address_lines
    return environment


def environment(templates_dir: Path) -> jinja2.Environment:
    """The Jinja environment of a templates folder, created once per process.

    Autoescaping is on for every template, so a customer called ``<script>`` is text;
    undefined names raise instead of printing nothing, so a template that drifts from
    ``InvoiceDocument`` fails loudly rather than issuing an invoice with a blank field.
    """
    return _environment(templates_dir.resolve())


@functools.cache
def stylesheet_text(root: Path) -> Markup:
    # Our own file, not user data: marked safe so that ``>`` in a selector survives.
    return Markup((root / STYLESHEET).read_text(encoding="utf-8"))


def render_template(
    document: InvoiceDocument, templates_dir: Path, *, embed_stylesheet: bool
) -> str:
    """The invoice's HTML; with ``embed_stylesheet`` the CSS is inlined in ``<style>``.

    The PDF renderer passes the stylesheet to WeasyPrint already parsed (once per
    process), so it asks for the HTML without it.
    """
    root = templates_dir.resolve()
    pages = None if document.calls is None else call_pages(document.calls, document.currency)
    try:
        template = environment(root).get_template(TEMPLATE)
        stylesheet = stylesheet_text(root) if embed_stylesheet else None
        return template.render(doc=document, call_pages=pages, stylesheet=stylesheet)
    except jinja2.TemplateSyntaxError as error:
        where = f"{root / (error.name or TEMPLATE)}:{error.lineno}"
        raise RenderError(f"{describe(document)}: {where}: {error.message}") from error
    except (jinja2.TemplateError, OSError) as error:
        where = _template_line(error, root) or str(root / TEMPLATE)
        raise RenderError(f"{describe(document)}: {where}: {error}") from error


def _template_line(error: BaseException, root: Path) -> str | None:
    """``file:line`` of the template line that failed (Jinja keeps it in the traceback)."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).is_relative_to(root)
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def render_html(document: InvoiceDocument, templates_dir: Path) -> str:
    """The invoice as one self-contained HTML page (its stylesheet inlined)."""
    return render_template(document, templates_dir, embed_stylesheet=True)
