"""Invoices end to end: close, numbering, crash safety, void, preview, PDF and CLI.

The workspace is the demo day with the three hand-made accounts and their fees, so
every invoice here can be checked by hand against sample_cdrs/README.md.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cdr_rating.billing.documents import bill_lines
from cdr_rating.jobs.close import preview
from cdr_rating.ledger import Ledger
from cdr_rating.ledger.invoices import find_invoice, invoice_lines, list_invoices
from nightly import ROOT, SAMPLE, cli_env, run_here, settings_for, start_cli

PERIOD = "2026-10"
ORIGINAL_ACCOUNTS = 5  # header + ACME-001, BETA-002 (twice), GAMMA-003
ORIGINAL_FEES = 8  # header + their seven fees
KILL_POINTS = [
    "appendix-written",
    "drafts-in-transaction",
    "drafts-saved",
    "finalise-in-transaction",
    "finalised",
    "html-written#2",
]


def head(path: Path, lines: int) -> str:
    return "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:lines])


def make_billing_workspace(folder: Path, *, accounts: str | None = None) -> Path:
    """An inbox with the demo day, three accounts, their fees; returns the config."""
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(SAMPLE, inbox / SAMPLE.name)
    (folder / "accounts.csv").write_text(
        accounts or head(ROOT / "sample_cdrs" / "accounts.csv", ORIGINAL_ACCOUNTS), "utf-8"
    )
    (folder / "fees.csv").write_text(head(ROOT / "sample_cdrs" / "fees.csv", ORIGINAL_FEES))
    config = folder / "cdr-rating.toml"
    config.write_text(
        f"""\
[paths]
data_dir = "var"
inbox = "inbox"
sheets = "{ROOT / "rate_sheets"}"
accounts = "accounts.csv"
fees = "fees.csv"
templates = "{ROOT / "templates"}"

[input]
timezone = "Europe/Berlin"

[billing]
timezone = "Europe/Berlin"
render_workers = 1

[billing.issuer]
name = "Nordlicht Telekom GmbH"
address = "Am Wasserturm 7, 10405 Berlin, Germany"
""",
        encoding="utf-8",
    )
    return config


def invoice_state(data_dir: Path) -> dict[str, Any]:
    """The invoices, lines and sequences of the ledger, and the files rendered."""
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        invoices = connection.execute(
            "SELECT number, kind, account, period, status, currency, subtotal, tax, total, pdf "
            "FROM invoices ORDER BY number"
        ).fetchall()
        lines = connection.execute(
            "SELECT i.number, l.line_no, l.kind, l.description, l.amount FROM invoice_lines l "
            "JOIN invoices i USING (invoice_id) ORDER BY i.number, l.line_no"
        ).fetchall()
        sequences = connection.execute("SELECT * FROM sequences ORDER BY name").fetchall()
    files = sorted(
        path.name for path in (data_dir / "invoices" / PERIOD).glob("INV-*") if path.is_file()
    )
    return {"invoices": invoices, "lines": lines, "sequences": sequences, "files": files}


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A workspace whose October has been closed once, without interruption."""
    folder = tmp_path_factory.mktemp("invoices")
    config = make_billing_workspace(folder)
    run_here(config, period=PERIOD, close=True)
    return config, folder / "var"


def test_close_issues_one_numbered_invoice_per_account(closed: tuple[Path, Path]) -> None:
    _, data_dir = closed
    state = invoice_state(data_dir)
    assert [(n, a, s) for n, _, a, _, s, *_ in state["invoices"]] == [
        ("INV-2026-000001", "ACME-001", "final"),
        ("INV-2026-000002", "BETA-002", "final"),
        ("INV-2026-000003", "GAMMA-003", "final"),
    ]
    assert state["sequences"] == [("INV-2026", 3)]
    assert state["files"] == [
        f"INV-2026-00000{i}.{ext}" for i in (1, 2, 3) for ext in ("html", "pdf")
    ]


def test_closing_twice_issues_nothing_new(closed: tuple[Path, Path], tmp_path: Path) -> None:
    config, data_dir = closed
    copy = tmp_path / "var"
    shutil.copytree(data_dir, copy)
    before = invoice_state(copy)
    report = run_here(config, copy, period=PERIOD, close=True)
    assert report.invoices is not None
    assert report.invoices.issued == []
    assert report.invoices.already_final == 3
    assert invoice_state(copy) == before


def test_usage_lines_reconcile_with_the_stored_charges(closed: tuple[Path, Path]) -> None:
    """Per currency: the usage lines of all invoices = the rated charges of the period."""
    _, data_dir = closed
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        usage = connection.execute(
            "SELECT i.currency, l.amount FROM invoice_lines l JOIN invoices i USING (invoice_id) "
            "WHERE l.kind = 'usage'"
        ).fetchall()
        stored = dict(
            connection.execute(
                "SELECT currency, charge FROM file_totals WHERE period = ?", (PERIOD,)
            ).fetchall()
        )
    sums: dict[str, Decimal] = {}
    for currency, amount in usage:
        sums[currency] = sums.get(currency, Decimal(0)) + Decimal(amount)
    assert sums == {currency: Decimal(charge) for currency, charge in stored.items()}
    assert sums["EUR"] == Decimal("43.9018")  # the README's total of the demo day


def test_preview_equals_the_finalised_invoice(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    settings = settings_for(config, data_dir)
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        for record in list_invoices(ledger, period=PERIOD):
            bill, document = preview(settings, record.account, PERIOD)
            assert bill_lines(bill) == invoice_lines(ledger, record.invoice_id)
            assert (document.subtotal, document.tax, document.total) == (
                record.subtotal,
                record.tax,
                record.total,
            )


def test_the_pdf_shows_number_customer_and_total(closed: tuple[Path, Path]) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    _, data_dir = closed
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        record = find_invoice(ledger, "INV-2026-000002")
    assert record.pdf is not None
    text = subprocess.run(
        ["pdftotext", "-layout", str(data_dir / record.pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "INV-2026-000002" in text
    assert "Beta Handelskontor KG" in text
    assert record.total in text
    assert "Page 1 of" in text


def test_void_keeps_the_number_and_closing_again_reissues(
    closed: tuple[Path, Path], tmp_path: Path
) -> None:
    config, data_dir = closed
    copy = tmp_path / "var"
    shutil.copytree(data_dir, copy)
    voided = cli(config, copy, "invoice", "void", "INV-2026-000002", "--reason", "wrong address")
    assert voided.returncode == 0, voided.stderr
    again = cli(config, copy, "invoice", "void", "INV-2026-000002", "--reason", "twice")
    assert again.returncode == 2
    assert "is void" in again.stderr

    run_here(config, copy, period=PERIOD, close=True)

    listed = json.loads(cli(config, copy, "invoice", "list", "--format", "json").stdout)
    assert [(r["number"], r["account"], r["status"]) for r in listed] == [
        ("INV-2026-000001", "ACME-001", "final"),
        ("INV-2026-000002", "BETA-002", "void"),
        ("INV-2026-000003", "GAMMA-003", "final"),
        ("INV-2026-000004", "BETA-002", "final"),
    ]
    assert listed[1]["void_reason"] == "wrong address"
    assert listed[1]["total"] == listed[3]["total"]


def cli(config: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdr_rating", *args, "--config", str(config)],
        env=cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_invoice_json_shapes(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    listed = json.loads(cli(config, data_dir, "invoice", "list", "--format", "json").stdout)
    keys = {"number", "kind", "refers_to", "account", "period", "status", "currency"}
    keys |= {"subtotal", "tax", "total", "pdf"}
    assert all(keys <= set(row) for row in listed)
    assert {row["kind"] for row in listed} == {"invoice"}
    assert all(isinstance(row[k], str) for row in listed for k in ("subtotal", "tax", "total"))
    shown = json.loads(
        cli(config, data_dir, "invoice", "show", "INV-2026-000003", "--format", "json").stdout
    )
    assert shown["total"] == "169.31"  # USD: 19.305999 of calls + 150.00 port, no tax
    assert shown["lines"][-1] == {
        "kind": "fee",
        "description": "Wholesale interconnect port (1 Gbit/s)",
        "detail": "",
        "calls": None,
        "quantity": "1",
        "unit": "month",
        "amount": "150.000000",
        "tax_rate": None,
    }
    previewed = cli(config, data_dir, "invoice", "preview", "GAMMA-003", "--period", PERIOD,
                    "--format", "json")  # fmt: skip
    draft = json.loads(previewed.stdout)
    assert (draft["number"], draft["status"], draft["pdf"]) == (None, "draft", None)
    assert draft["lines"] == shown["lines"]
    missing = cli(config, data_dir, "invoice", "show", "INV-1999-000001")
    assert missing.returncode == 2
    assert missing.stderr.startswith("cdr-rating: error: no invoice or note numbered")


def test_a_killed_close_finishes_without_gaps_or_doubles(tmp_path: Path) -> None:
    reference_config = make_billing_workspace(tmp_path / "reference")
    run_here(reference_config, period=PERIOD, close=True)
    expected = invoice_state(tmp_path / "reference" / "var")
    configs = {
        point: make_billing_workspace(tmp_path / point.replace("#", "-")) for point in KILL_POINTS
    }

    def killed(point: str) -> int:
        process = start_cli(
            configs[point], "--period", PERIOD, "--close", CDR_RATING_TEST_KILL_AT=point
        )
        process.communicate(timeout=120)
        return int(process.returncode)

    with ThreadPoolExecutor(3) as pool:
        codes = dict(zip(KILL_POINTS, pool.map(killed, KILL_POINTS), strict=True))
    assert codes == dict.fromkeys(KILL_POINTS, -signal.SIGKILL), "every kill point was reached"
    for point, config in configs.items():
        run_here(config, period=PERIOD, close=True)
        state = invoice_state(config.parent / "var")
        assert state["invoices"] == expected["invoices"], f"after a kill at {point}"
        assert state == expected, f"after a kill at {point}"
        leftovers = list((config.parent / "var" / "invoices" / PERIOD).glob("calls-*.parquet"))
        assert len(leftovers) == 1, f"unreferenced appendix files after a kill at {point}"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--period",
            "2026-13",
            "cdr-rating: error: --period '2026-13' is not a billing period like 2026-10 (YYYY-MM)",
        ),
        (
            "--period",
            "2026-1",
            "cdr-rating: error: --period '2026-1' is not a billing period like 2026-10 (YYYY-MM)",
        ),
        ("--status", "foo", "'foo' is not one of 'draft', 'final', 'void'"),
    ],
)
def test_invoice_list_rejects_a_bad_filter(
    closed: tuple[Path, Path], option: str, value: str, message: str
) -> None:
    config, data_dir = closed
    done = cli(config, data_dir, "invoice", "list", option, value)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()  # one line, no "no invoices"
    assert line.startswith("cdr-rating: error: ")
    assert message in line


def test_invoice_list_status_is_a_choice(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    helped = cli(config, data_dir, "invoice", "list", "--help")
    assert "--status <draft|final|void>" in helped.stdout
    final = cli(config, data_dir, "invoice", "list", "--status", "final", "--format", "json")
    assert [row["status"] for row in json.loads(final.stdout)] == ["final"] * 3
    void = cli(config, data_dir, "invoice", "list", "--status", "void", "--period", PERIOD)
    assert (void.returncode, void.stderr) == (0, "no invoices\n")


def test_invoice_output_paths_are_absolute(closed: tuple[Path, Path]) -> None:
    """The ledger keeps the PDF relative to the data dir; output names the real file."""
    config, data_dir = closed
    listed = json.loads(cli(config, data_dir, "invoice", "list", "--format", "json").stdout)
    shown = json.loads(
        cli(config, data_dir, "invoice", "show", "INV-2026-000002", "--format", "json").stdout
    )
    expected = str((data_dir / "invoices" / PERIOD / "INV-2026-000002.pdf").resolve())
    assert listed[1]["pdf"] == shown["pdf"] == expected
    assert all(Path(row["pdf"]).is_absolute() and Path(row["pdf"]).is_file() for row in listed)
    assert invoice_state(data_dir)["invoices"][1][-1] == "invoices/2026-10/INV-2026-000002.pdf"


@pytest.mark.parametrize(
    "command",
    [
        ["invoice", "preview", "BETA-002", "--period", PERIOD, "--format", "pdf"],
        ["invoice", "show", "INV-2026-000002", "--format", "pdf"],
        ["invoice", "show", "INV-2026-000002", "--format", "json"],
    ],
)
def test_invoice_out_into_a_missing_folder_exits_2(
    closed: tuple[Path, Path], tmp_path: Path, command: list[str]
) -> None:
    config, data_dir = closed
    out = tmp_path / "nonexistent" / "dir" / "x.pdf"
    done = cli(config, data_dir, *command, "--out", str(out))
    assert done.returncode == 2
    assert done.stderr == (
        f"cdr-rating: error: {out}: cannot write it: No such file or directory; give --out a "
        "writable path\n"
    )


def test_a_close_removes_only_the_appendix_files_a_close_journaled(tmp_path: Path) -> None:
    """An appendix file no invoice refers to is removed only when a close named it in
    its journal: one the ledger does not know may belong to invoices issued since the
    backup the ledger was restored from."""
    config = make_billing_workspace(tmp_path)
    run_here(config, period=PERIOD, close=True)
    data_dir = config.parent / "var"
    folder = data_dir / "invoices" / PERIOD
    (issued,) = folder.glob("calls-*.parquet")
    unknown = folder / "calls-20990101T000000Z-abcdef-0000.parquet"
    unknown.write_bytes(issued.read_bytes())
    journaled = folder / "calls-20990101T000000Z-fedcba-0000.parquet"
    journaled.write_bytes(issued.read_bytes())
    outside = tmp_path / "calls-outside.parquet"
    outside.write_bytes(b"not the books'")
    (data_dir / "journal").mkdir(exist_ok=True)
    (data_dir / "journal" / "close-killed.json").write_text(
        json.dumps(
            {
                "kind": "close",
                "entries": [
                    f"invoices/{PERIOD}/{journaled.name}",
                    f"invoices/{PERIOD}/../../../{outside.name}",
                ],
            }
        ),
        encoding="utf-8",
    )

    run_here(config, period=PERIOD, close=True)

    assert sorted(path.name for path in folder.glob("calls-*.parquet")) == sorted(
        [issued.name, unknown.name]
    )
    assert outside.read_bytes() == b"not the books'"
    assert list((data_dir / "journal").iterdir()) == []
