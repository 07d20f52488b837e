"""Rendering: invoices as HTML (Jinja) and PDF (WeasyPrint), from ``InvoiceDocument``.

Templates live in the folder configured as ``[paths] templates``; everything the PDF
needs is read from there and nowhere else.
"""

from cdr_rating.errors import RenderError
from cdr_rating.render.html import CALLS_PER_PAGE, render_html
from cdr_rating.render.pdf import render_pdf, render_pdfs, write_pdf

__all__ = [
    "CALLS_PER_PAGE",
    "RenderError",
    "render_html",
    "render_pdf",
    "render_pdfs",
    "write_pdf",
]
