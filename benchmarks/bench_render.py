"""Invoice rendering speed: one itemised invoice, and many summary invoices in parallel.

Targets (ARCHITECTURE.md section 11): an itemised invoice with 5,000 calls in under
5 s (HTML and PDF), and 10,000 summary invoices to PDF in under 10 minutes on 2 cores.

* ``itemised``: one invoice with ``--itemised`` calls. ``HTML`` is the Jinja pass,
  ``PDF`` is WeasyPrint's layout and PDF writing of that HTML, ``total`` is one
  ``render_pdf`` call from document to bytes. All are warm (the stylesheet and fonts
  are loaded once per process first; that start-up is reported on its own line).
* ``summary``: ``--summary`` invoices (4 to 12 usage lines, bands, an allowance, fees,
  one or two tax rates, no appendix) written to PDF files by ``render_pdfs`` on
  ``--workers`` processes (default: every core), including the start of the pool. With
  fewer than 10,000 invoices the time for 10,000 is extrapolated, and labelled so.

Peak RSS: this process, and the largest worker (``ru_maxrss`` of reaped children).
``--json FILE`` also writes the measurements as JSON (what ``harness.py`` reads).

Example::

    python benchmarks/bench_render.py --summary 1000 --itemised 5000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import weasyprint
from weasyprint.text.ffi import harfbuzz_subset

from cdr_rating.billing.document import BandRow, CallRow, InvoiceDocument, Line, Party, TaxRow
from cdr_rating.render import render_pdf, render_pdfs
from cdr_rating.render.html import render_template
from cdr_rating.render.pdf import pdf_from_html

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
TARGET_SUMMARY = 10_000
TARGET_SUMMARY_S = 600.0
TARGET_ITEMISED_S = 5.0

ISSUER = Party(
    name="Nordlicht Telekom GmbH",
    address="Am Wasserturm 7, 10405 Berlin, Germany",
    email="billing@nordlicht-telekom.example",
    vat_id="DE000000000",
)
DESTINATIONS = (
    "Germany Fixed",
    "Germany Mobile",
    "Austria Fixed",
    "Austria Mobile",
    "Switzerland Mobile",
    "United Kingdom London",
    "France Mobile",
    "Netherlands Fixed",
    "Poland Mobile",
    "United States",
    "Turkey Mobile",
    "Spain Fixed",
)
BANDS = ("peak", "offpeak", "weekend")


def amount(index: int, scale: int = 100) -> str:
    """A plausible amount with four decimals, varying with ``index``."""
    return f"{(index * 7919) % (scale * 10_000) / 10_000:.4f}"


def usage_lines(index: int) -> list[Line]:
    count = 4 + index % 9
    return [
        Line(
            kind="usage",
            description=DESTINATIONS[(index + line) % len(DESTINATIONS)],
            detail=BANDS[line % len(BANDS)],
            calls=1 + (index * 31 + line * 17) % 400,
            quantity=f"{(index * 13 + line * 101) % 2000}.{line % 10}",
            unit="min",
            amount=amount(index + line),
            tax_rate="19 %",
        )
        for line in range(count)
    ]


def call_rows(count: int) -> list[CallRow]:
    return [
        CallRow(
            start=f"2026-10-{1 + call * 30 // count:02d} {call % 24:02d}:{call % 60:02d}:00",
            caller="+xxxxxxxxx123",
            number=f"+49176{1_000_000 + call * 7919 % 9_000_000}",
            destination=DESTINATIONS[call % len(DESTINATIONS)],
            band=BANDS[call % len(BANDS)],
            duration=f"{call % 23}:{call % 60:02d}",
            billable_s=str(60 + call % 1300),
            allowance_s="60" if call % 4 == 0 else "0",
            charge=amount(call, scale=2),
        )
        for call in range(count)
    ]


def make_document(index: int, calls: int | None = None) -> InvoiceDocument:
    """A final invoice for account ``index``, with ``calls`` itemised calls if given."""
    two_rates = index % 5 == 0
    fees = [
        Line("fee", "SIP trunk, 10 channels", "49.0000", "monthly", None, "1", "month", "19 %"),
        Line("fee", "Number block", "8.2258", "from 2026-10-15", None, "17/31", "days", "19 %"),
    ]
    if two_rates:
        fees.append(Line("fee", "Printed invoice", "2.5000", "once", None, "1", "", "7 %"))
    allowance = Line(
        "allowance",
        "National minutes",
        "-20.0000",
        "1000 of 1000 min",
        310,
        "1000.0",
        "min",
        "19 %",
    )
    taxes = [TaxRow("19 %", amount(index, 1000), amount(index + 1, 200)[:-2])]
    if two_rates:
        taxes.append(TaxRow("7 %", "2.5000", "0.18"))
    return InvoiceDocument(
        kind="invoice",
        status="final",
        number=f"INV-2026-{index + 1:06d}",
        account=f"{100_000 + index}",
        period="2026-10",
        period_label="October 2026",
        period_start="2026-10-01",
        period_end="2026-10-31",
        issued_on="2026-11-01",
        due_on="2026-11-15",
        currency="EUR",
        issuer=ISSUER,
        customer=Party(
            name=f"Customer {index} Handelsgesellschaft mbH",
            address=f"Hauptstraße {1 + index % 200}, {10_000 + index % 89_999} Berlin, Germany",
            email=f"accounts{index}@customer.example",
            account=f"{100_000 + index}",
        ),
        usage=usage_lines(index),
        bands=[
            BandRow(band, 10 + index % 300, f"{index % 900}.5", amount(index)) for band in BANDS
        ],
        allowances=[allowance],
        fees=fees,
        subtotal=amount(index, 1000),
        taxes=taxes,
        tax=amount(index + 1, 200)[:-2],
        total=amount(index + 2, 1200)[:-2],
        calls=None if calls is None else call_rows(calls),
    )


def timed(function: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds taken by ``function(*args)``, and its result."""
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def page_count(pdf: bytes) -> str:
    """Pages of a PDF according to ``pdfinfo`` (poppler), or ``?`` without it."""
    if shutil.which("pdfinfo") is None:
        return "?"
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        info = subprocess.run(["pdfinfo", file.name], capture_output=True, text=True, check=True)
    pages = [line.split()[-1] for line in info.stdout.splitlines() if line.startswith("Pages:")]
    return pages[0] if pages else "?"


@dataclass
class ItemisedResult:
    calls: int
    startup_s: float
    html_s: float
    pdf_s: float
    total_s: float
    pages: str
    cpu_s: float = 0.0  # CPU of the ``total`` render
    peak_rss_mib: float = 0.0  # this process, after the itemised invoice

    def as_row(self) -> dict[str, Any]:
        """The JSON row (``harness.py`` reads these)."""
        return {
            "measurement": "itemised invoice",
            "invoices": 1,
            "calls": self.calls,
            "wall_s": self.total_s,
            "cpu_s": self.cpu_s,
            "peak_rss_mib": self.peak_rss_mib,
            "invoices_per_s": 1 / self.total_s,
            "calls_per_s": self.calls / self.total_s,
            "startup_s": self.startup_s,
            "html_s": self.html_s,
            "pdf_s": self.pdf_s,
            "pages": self.pages,
            "target_s": TARGET_ITEMISED_S,
        }


def bench_itemised(calls: int) -> ItemisedResult:
    warm_up = make_document(0)
    startup_s, _ = timed(render_pdf, warm_up, TEMPLATES)
    document = make_document(1, calls)
    html_s, html = timed(lambda: render_template(document, TEMPLATES, embed_stylesheet=False))
    pdf_s, pdf = timed(pdf_from_html, html, TEMPLATES)
    cpu_before = time.process_time()
    total_s, _ = timed(render_pdf, document, TEMPLATES)
    cpu_s = time.process_time() - cpu_before
    return ItemisedResult(
        calls, startup_s, html_s, pdf_s, total_s, page_count(pdf), cpu_s, peak_rss_mib()[0]
    )


@dataclass
class SummaryResult:
    invoices: int
    workers: int
    wall_s: float
    cpu_s: float
    bytes_written: int

    @property
    def per_second(self) -> float:
        return self.invoices / self.wall_s

    @property
    def target_s(self) -> float:
        return self.wall_s * TARGET_SUMMARY / self.invoices

    @property
    def idle_target_s(self) -> float:
        """The time for 10,000 if the workers had their cores to themselves."""
        return self.cpu_s / self.workers * TARGET_SUMMARY / self.invoices

    def as_row(self) -> dict[str, Any]:
        """The JSON row (``harness.py`` reads these); peak RSS is the largest worker's."""
        parent, worker = peak_rss_mib()
        return {
            "measurement": "summary invoices",
            "invoices": self.invoices,
            "workers": self.workers,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "peak_rss_mib": worker if self.workers > 1 else parent,
            "parent_peak_rss_mib": parent,
            "invoices_per_s": self.per_second,
            "cpu_ms_per_invoice": self.cpu_s / self.invoices * 1000,
            "pdf_kib": self.bytes_written / self.invoices / 1024,
            "for_target_s": self.target_s,
            "for_target_from_cpu_s": self.idle_target_s,
            "target_invoices": TARGET_SUMMARY,
            "target_s": TARGET_SUMMARY_S,
            "extrapolated": self.invoices < TARGET_SUMMARY,
        }


def bench_summary(invoices: int, workers: int) -> SummaryResult:
    documents = [make_document(index) for index in range(invoices)]
    with tempfile.TemporaryDirectory(prefix="bench-render-") as folder:
        jobs = [(doc, Path(folder) / f"{doc.number}.pdf") for doc in documents]
        cpu_before = cpu_seconds()
        wall_s, _ = timed(render_pdfs, jobs, TEMPLATES, workers)
        cpu_s = cpu_seconds() - cpu_before
        written = sum(path.stat().st_size for _, path in jobs)
        bad = [path for _, path in jobs if not path.read_bytes().startswith(b"%PDF")]
        if bad:
            sys.exit(f"not a PDF: {bad[0]}")
    return SummaryResult(invoices, workers, wall_s, cpu_s, written)


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mib() -> tuple[float, float]:
    """This process's and the largest reaped child's peak RSS (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def font_subsetting() -> str:
    return "HarfBuzz" if harfbuzz_subset else "fontTools (libharfbuzz-subset0 missing)"


def json_report(itemised: ItemisedResult | None, summary: SummaryResult | None) -> dict[str, Any]:
    rows = [result.as_row() for result in (itemised, summary) if result is not None]
    return {
        "benchmark": "invoice rendering",
        "weasyprint_version": weasyprint.__version__,
        "font_subsetting": font_subsetting(),
        "rows": rows,
    }


def machine_description() -> str:
    cpu_model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    subsetting = font_subsetting()
    return (
        f"{os.cpu_count()} cores ({cpu_model}), load {os.getloadavg()[0]:.2f}, "
        f"Python {platform.python_version()}, WeasyPrint {weasyprint.__version__}, "
        f"font subsetting: {subsetting}, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}"
    )


def verdict(seconds: float, target: float) -> str:
    return "met" if seconds < target else "MISSED"


def table(itemised: ItemisedResult | None, summary: SummaryResult | None) -> str:
    rows = ["| measurement | result | target |", "|---|---|---|"]
    if itemised:
        i = itemised
        rows += [
            f"| start-up (stylesheet, fonts, first invoice) | {i.startup_s:.2f} s | |",
            f"| itemised {i.calls:,} calls: HTML | {i.html_s:.2f} s | |",
            f"| itemised {i.calls:,} calls: PDF ({i.pages} pages) | {i.pdf_s:.2f} s | |",
            f"| itemised {i.calls:,} calls: total (`render_pdf`) | {i.total_s:.2f} s "
            f"| < {TARGET_ITEMISED_S:.0f} s: {verdict(i.total_s, TARGET_ITEMISED_S)} |",
        ]
    if summary:
        s = summary
        label = "" if s.invoices >= TARGET_SUMMARY else " (extrapolated)"
        rows += [
            f"| {s.invoices:,} summary invoices, {s.workers} workers: wall | {s.wall_s:.1f} s | |",
            f"| summary invoices per second | {s.per_second:.1f} | |",
            f"| CPU per summary invoice (all processes) | {s.cpu_s / s.invoices * 1000:.0f} ms | |",
            f"| average PDF size | {s.bytes_written / s.invoices / 1024:.0f} KiB | |",
            f"| {TARGET_SUMMARY:,} summary invoices{label} | {s.target_s / 60:.1f} min "
            f"| < {TARGET_SUMMARY_S / 60:.0f} min: {verdict(s.target_s, TARGET_SUMMARY_S)} |",
            f"| {TARGET_SUMMARY:,} summary invoices, from CPU time (cores to themselves) "
            f"| {s.idle_target_s / 60:.1f} min "
            f"| < {TARGET_SUMMARY_S / 60:.0f} min: {verdict(s.idle_target_s, TARGET_SUMMARY_S)} |",
        ]
    own, child = peak_rss_mib()
    rows.append(f"| peak RSS: this process / largest worker | {own:.0f} / {child:.0f} MiB | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", type=int, default=TARGET_SUMMARY, metavar="N")
    parser.add_argument("--itemised", type=int, default=5_000, metavar="CALLS")
    parser.add_argument("--workers", type=int, default=None, metavar="W")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
    options = parser.parse_args(argv)
    workers = options.workers or os.cpu_count() or 1
    itemised = bench_itemised(options.itemised) if options.itemised > 0 else None
    summary = bench_summary(options.summary, workers) if options.summary > 0 else None
    print(machine_description())
    print()
    print(table(itemised, summary))
    if options.json:
        found = json_report(itemised, summary)
        options.json.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
