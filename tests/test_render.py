"""Rendering invoices: escaping, strict templates, the URL fetcher, the PDF, parallel runs."""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from weasyprint.text.ffi import harfbuzz_subset

from cdr_rating.billing.document import BandRow, CallRow, InvoiceDocument, Line, Party, TaxRow
from cdr_rating.render import (
    CALLS_PER_PAGE,
    RenderError,
    render_html,
    render_pdf,
    render_pdfs,
    write_pdf,
)
from cdr_rating.render.html import address_lines, call_pages
from cdr_rating.render.pdf import RefusedURLError, TemplatesFetcher

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
MALICIOUS = "<script>alert(1)</script> & Co"
APPENDIX_HEADER = ("Start", "Caller", "Number", "Destination", "Billed s", "Charge EUR")


def calls(count: int) -> list[CallRow]:
    return [
        CallRow(
            start=f"2026-10-{1 + index % 28:02d} {index % 24:02d}:{index % 60:02d}:00",
            caller="+xxxxxxxxx123",
            number=f"+4930{1_000_000 + index}",
            destination="Germany Mobile" if index % 2 else "Germany Fixed",
            band="peak" if index % 3 else "offpeak",
            duration=f"{index % 9}:{index % 60:02d}",
            billable_s=str(60 + index),
            allowance_s="60" if index % 4 == 0 else "0",
            charge=f"0.{index % 10_000:04d}",
        )
        for index in range(count)
    ]


def invoice(**changes: Any) -> InvoiceDocument:
    """A realistic final invoice: several usage lines, bands, an allowance, fees, two rates."""
    usage = [
        Line("usage", "Germany Fixed", "25.8100", "peak", 412, "1290.5", "min", "19 %"),
        Line("usage", "Germany Fixed", "8.0120", "offpeak", 233, "801.2", "min", "19 %"),
        Line("usage", "Germany Mobile", "57.6000", "peak", 198, "640.0", "min", "19 %"),
        Line("usage", "Austria Mobile", "6.7000", "weekend", 12, "33.5", "min", "19 %"),
    ]
    document = InvoiceDocument(
        kind="invoice",
        status="final",
        number="INV-2026-000042",
        account="1001",
        period="2026-10",
        period_label="October 2026",
        period_start="2026-10-01",
        period_end="2026-10-31",
        issued_on="2026-11-01",
        due_on="2026-11-15",
        currency="EUR",
        issuer=Party(
            name="Nordlicht Telekom GmbH",
            address="Am Wasserturm 7, 10405 Berlin, Germany",
            email="billing@nordlicht-telekom.example",
            vat_id="DE000000000",
        ),
        customer=Party(
            name="Müller Logistik GmbH",
            address="Hafenstraße 12, 20457 Hamburg, Germany",
            email="accounts@mueller.example",
            account="1001",
        ),
        usage=usage,
        bands=[
            BandRow("offpeak", 233, "801.2", "8.0120"),
            BandRow("peak", 610, "1930.5", "83.4100"),
            BandRow("weekend", 12, "33.5", "6.7000"),
        ],
        allowances=[
            Line(
                "allowance",
                "National minutes",
                "-20.0000",
                "1000 of 1000 min",
                310,
                "1000.0",
                "min",
                "19 %",
            )
        ],
        fees=[
            Line("fee", "SIP trunk, 10 channels", "49.0000", "monthly", None, "1", "month", "19 %"),
            Line("fee", "Printed invoice", "2.5000", "once", None, "1", "", "7 %"),
        ],
        adjustments=[Line("commitment", "Minimum commitment top-up", "15.0000", tax_rate="19 %")],
        subtotal="144.6220",
        taxes=[TaxRow("19 %", "142.1220", "27.00"), TaxRow("7 %", "2.5000", "0.18")],
        tax="27.18",
        rounding="-0.0020",
        total="171.80",
    )
    return dataclasses.replace(document, **changes)


def credit_note() -> InvoiceDocument:
    return invoice(
        kind="credit_note",
        number="CN-2026-000003",
        refers_to="INV-2026-000042",
        reason="re-rated with the corrected Germany Mobile rate",
        total="-12.34",
    )


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of every page, with pdftotext (poppler)."""
    if shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None:
        pytest.skip("pdftotext/pdfinfo (poppler-utils) are not installed: cannot read PDF text")
    path = tmp_path / "read.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, check=True)
    count = int(
        next(line for line in info.stdout.splitlines() if line.startswith("Pages:")).split()[1]
    )
    return [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(page), "-l", str(page), path, "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for page in range(1, count + 1)
    ]


@pytest.fixture(scope="module", autouse=True)
def reproducible_fonts() -> Iterator[None]:
    """Without libharfbuzz-subset, WeasyPrint's fontTools fallback stamps fonts with the time."""
    with pytest.MonkeyPatch.context() as patch:
        if harfbuzz_subset is None:
            patch.setenv("SOURCE_DATE_EPOCH", "0")
        yield


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test instead of reaching out."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the renderer tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def templates_copy(tmp_path: Path) -> Path:
    """A private copy of the templates, for tests that break them."""
    return Path(shutil.copytree(TEMPLATES, tmp_path / "templates"))


# HTML --------------------------------------------------------------------------------


def test_a_customer_name_is_escaped_text_never_markup() -> None:
    document = invoice(customer=Party(name=MALICIOUS, address=MALICIOUS, account="1001"))

    html = render_html(document, TEMPLATES)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_html_is_self_contained_and_omits_empty_sections() -> None:
    html = render_html(invoice(allowances=[], fees=[], adjustments=[], rounding=""), TEMPLATES)

    assert "<style>" in html
    assert "@page" in html
    assert "<link" not in html
    assert "Charges and credits" not in html
    assert "Rounding" not in html
    assert "Itemised calls" not in html


def test_tax_column_only_when_lines_have_different_rates() -> None:
    one_rate = [dataclasses.replace(fee, tax_rate="19 %") for fee in invoice().fees]

    assert ">Tax</th>" in render_html(invoice(), TEMPLATES)
    assert ">Tax</th>" not in render_html(invoice(fees=one_rate), TEMPLATES)


def test_an_undefined_template_variable_fails_naming_the_invoice_and_line(
    templates_copy: Path,
) -> None:
    (templates_copy / "invoice.html.j2").write_text("<p>\n{{ doc.no_such_field }}</p>\n")

    with pytest.raises(RenderError, match=r"invoice INV-2026-000042: .*invoice\.html\.j2:2"):
        render_html(invoice(), templates_copy)


def test_a_template_syntax_error_names_the_file_and_line(templates_copy: Path) -> None:
    (templates_copy / "invoice.html.j2").write_text("<p>\n{% if %}</p>\n")

    with pytest.raises(RenderError, match=r"invoice\.html\.j2:2"):
        render_html(invoice(), templates_copy)


def test_address_lines_split_on_commas() -> None:
    assert address_lines("Am Wasserturm 7, 10405 Berlin,, Germany ") == [
        "Am Wasserturm 7",
        "10405 Berlin",
        "Germany",
    ]
    assert address_lines("") == []


def test_calls_are_cut_into_full_pages_of_aligned_lines() -> None:
    pages = call_pages(calls(2 * CALLS_PER_PAGE + 1), "EUR")

    assert [len(page.lines) for page in pages] == [CALLS_PER_PAGE, CALLS_PER_PAGE, 1]
    assert {len(line) for page in pages for line in page.lines} == {len(pages[0].header)}
    assert pages[0].header.rstrip().endswith("Charge EUR")
    assert pages[0].lines[0].endswith("0.0000")


def test_a_long_value_is_cut_with_an_ellipsis_and_numbers_keep_their_end() -> None:
    call = dataclasses.replace(
        calls(1)[0],
        destination="Switzerland Mobile Premium Services",
        caller="+xxxxxxxxxxxxxxxxx123",
        number="+12345678901234567890",
    )

    line = call_pages([call], "EUR")[0].lines[0]

    assert "Switzerland Mobile P…" in line
    assert "…xxxxxxxxxxxx123" in line
    assert "…678901234567890" in line
    assert len(line) == len(call_pages([], "EUR")[0].header)


def test_no_calls_still_gives_one_appendix_page() -> None:
    pages = call_pages([], "EUR")

    assert len(pages) == 1
    assert pages[0].lines == []


# The URL fetcher ------------------------------------------------------------------------


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/hostname",
        "http://example.com/x.png",
        "https://example.com/x.css",
        "data:text/css,body{}",
        "ftp://example.com/x.css",
        "file://otherhost" + str(TEMPLATES / "invoice.css"),
        (TEMPLATES / ".." / "pyproject.toml").as_uri(),
        (TEMPLATES / "no-such-file.png").as_uri(),
        TEMPLATES.as_uri(),
    ],
)
def test_the_fetcher_refuses_anything_but_files_under_the_templates(url: str) -> None:
    with pytest.raises(RefusedURLError, match="refused"):
        TemplatesFetcher(TEMPLATES).fetch(url)


def test_the_fetcher_refuses_a_symlink_out_of_the_templates(templates_copy: Path) -> None:
    (templates_copy / "escape.css").symlink_to("/etc/hostname")

    with pytest.raises(RefusedURLError, match="not under"):
        TemplatesFetcher(templates_copy).fetch((templates_copy / "escape.css").as_uri())


def test_the_fetcher_serves_the_stylesheet() -> None:
    response = TemplatesFetcher(TEMPLATES).fetch((TEMPLATES / "invoice.css").as_uri())

    assert response.read() == (TEMPLATES / "invoice.css").read_bytes()
    assert response.content_type == "text/css"


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("url", ["http://example.com/logo.png", "file:///etc/hostname"])
def test_a_template_that_reaches_out_fails_the_render(templates_copy: Path, url: str) -> None:
    template = templates_copy / "invoice.html.j2"
    template.write_text(template.read_text().replace("<body", f'<img src="{url}"><body', 1))

    with pytest.raises(RenderError, match=r"invoice INV-2026-000042: refused"):
        render_pdf(invoice(), templates_copy)


# The PDF -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def invoice_pdf() -> bytes:
    return render_pdf(invoice(), TEMPLATES)


def test_the_pdf_shows_number_customer_total_and_page_numbers(
    invoice_pdf: bytes, tmp_path: Path
) -> None:
    pages = pdf_pages(invoice_pdf, tmp_path)
    text = "\n".join(pages)

    assert invoice_pdf.startswith(b"%PDF")
    for expected in ("INV-2026-000042", "Müller Logistik GmbH", "171.80", "VAT 7 % on 2.5000"):
        assert expected in text
    assert f"Page 1 of {len(pages)}" in pages[0]


def test_rendering_logs_no_weasyprint_warnings(caplog: pytest.LogCaptureFixture) -> None:
    """No CSS WeasyPrint ignores, no missing glyph (its warning about a missing
    libharfbuzz-subset is a matter of installation, not of these templates)."""
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        render_pdf(invoice(calls=calls(3)), TEMPLATES)

    messages = [record.getMessage() for record in caplog.records]
    assert [message for message in messages if "HarfBuzz-Subset" not in message] == []


def test_an_itemised_appendix_has_its_header_on_every_page(tmp_path: Path) -> None:
    count = 300
    pages = pdf_pages(render_pdf(invoice(calls=calls(count)), TEMPLATES), tmp_path)
    appendix = [page for page in pages if "Itemised calls" in page]

    assert len(appendix) == math.ceil(count / CALLS_PER_PAGE)  # no page overflows
    assert pages[-len(appendix) :] == appendix  # the appendix starts on a page of its own
    for number, page in enumerate(appendix, start=1):
        assert all(title in page for title in APPENDIX_HEADER)
        assert f"page {number} of {len(appendix)}" in page
    assert "+49301000299" in appendix[-1]


def test_a_draft_shows_the_banner_and_no_number(tmp_path: Path) -> None:
    draft = invoice(status="draft", number=None)

    text = "\n".join(pdf_pages(render_pdf(draft, TEMPLATES), tmp_path))

    assert "Draft invoice" in text
    assert "DRAFT — not a valid invoice" in text
    assert "INV-" not in text


def test_a_void_invoice_says_so_and_why(tmp_path: Path) -> None:
    void = invoice(status="void", void_reason="issued to the wrong account")

    text = "\n".join(pdf_pages(render_pdf(void, TEMPLATES), tmp_path))

    assert "VOID — this document is cancelled: issued to the wrong account" in text


def test_a_credit_note_refers_to_its_invoice(tmp_path: Path) -> None:
    text = "\n".join(pdf_pages(render_pdf(credit_note(), TEMPLATES), tmp_path))

    assert "Credit note" in text
    assert "CN-2026-000003" in text
    assert "Refers to invoice INV-2026-000042" in text
    assert "re-rated with the corrected Germany Mobile rate" in text


def test_the_same_invoice_gives_the_same_bytes(invoice_pdf: bytes) -> None:
    assert render_pdf(invoice(), TEMPLATES) == invoice_pdf


def test_write_pdf_leaves_only_the_pdf(tmp_path: Path, invoice_pdf: bytes) -> None:
    target = tmp_path / "out" / "INV-2026-000042.pdf"

    write_pdf(invoice(), target, TEMPLATES)

    assert target.read_bytes() == invoice_pdf
    assert [path.name for path in target.parent.iterdir()] == [target.name]


# Many invoices ---------------------------------------------------------------------------


def test_render_pdfs_on_two_workers_writes_every_pdf(tmp_path: Path, invoice_pdf: bytes) -> None:
    documents = [invoice(), credit_note(), invoice(status="draft", number=None)]
    jobs = [(document, tmp_path / f"{index}.pdf") for index, document in enumerate(documents)]

    render_pdfs(jobs, TEMPLATES, workers=2)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["0.pdf", "1.pdf", "2.pdf"]
    assert all(path.read_bytes().startswith(b"%PDF") for _, path in jobs)
    assert jobs[0][1].read_bytes() == invoice_pdf  # the same bytes from another process


def test_a_failing_job_names_its_invoice_and_path_and_the_rest_are_written(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    draft = invoice(status="draft", number=None, account="2002")
    jobs = [(invoice(), tmp_path / "good.pdf"), (draft, blocker / "bad.pdf")]

    with pytest.raises(RenderError) as raised:
        render_pdfs(jobs, TEMPLATES, workers=1)

    message = str(raised.value)
    assert message.startswith(
        f"1 of 2 invoices failed: draft invoice of account 2002 for 2026-10 -> {blocker}/bad.pdf: "
        "cannot write"
    )
    assert (tmp_path / "good.pdf").read_bytes().startswith(b"%PDF")


def test_a_failure_in_a_worker_process_names_its_invoice(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    jobs = [(invoice(), tmp_path / "a.pdf"), (credit_note(), blocker / "b.pdf")]

    with pytest.raises(RenderError, match=r"credit note CN-2026-000003 -> .*b\.pdf"):
        render_pdfs(jobs, TEMPLATES, workers=2)


@pytest.mark.slow
def test_five_thousand_calls_fill_their_pages_exactly(tmp_path: Path) -> None:
    pages = pdf_pages(render_pdf(invoice(calls=calls(5_000)), TEMPLATES), tmp_path)

    assert sum("Itemised calls" in page for page in pages) == math.ceil(5_000 / CALLS_PER_PAGE)
