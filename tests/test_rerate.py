"""Re-rating a closed period: preview, exact differences, notes, idempotency, audit."""

from __future__ import annotations

import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.billing.rerate import RerateResult
from cdr_rating.jobs.close import CALL_COLUMNS
from cdr_rating.jobs.month import StoredMonth
from cdr_rating.jobs.rerate import rerate_and_apply, rerate_period
from cdr_rating.jobs.setup import billing_setup
from cdr_rating.ledger import Ledger
from cdr_rating.store import DataDir
from nightly import ROOT, run_here, settings_for
from test_invoices import PERIOD, invoice_state, make_billing_workspace

UK_FIXED = "44,United Kingdom Fixed,,0.0190,"


def corrected_sheets(folder: Path, *, uk_fixed: str | None = None, add: str = "") -> Path:
    """A copy of rate_sheets/ with the UK fixed rate (not covered by the allowance)
    changed and rows added."""
    target = folder / "corrected"
    shutil.copytree(ROOT / "rate_sheets", target)
    retail = target / "retail-eu.csv"
    text = retail.read_text(encoding="utf-8")
    if uk_fixed is not None:
        assert UK_FIXED in text
        text = text.replace(UK_FIXED, f"44,United Kingdom Fixed,,{uk_fixed},")
    retail.write_text(text + add, encoding="utf-8")
    return target


@pytest.fixture
def closed(tmp_path: Path) -> tuple[Path, Path]:
    config = make_billing_workspace(tmp_path / "work")
    run_here(config, period=PERIOD, close=True)
    return config, tmp_path / "work" / "var"


def preview(config: Path, data_dir: Path, **options: object) -> RerateResult:
    settings = settings_for(config, data_dir)
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        return rerate_period(settings, ledger, PERIOD, **options)  # type: ignore[arg-type]


def apply(config: Path, data_dir: Path, reason: str, **options: object) -> list[str]:
    settings = settings_for(config, data_dir)
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        _, applied = rerate_and_apply(settings, ledger, PERIOD, reason, **options)  # type: ignore[arg-type]
        return applied.notes


def test_unchanged_sheets_change_nothing(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    result = preview(config, data_dir)
    assert result.changes.is_empty()
    assert [c.difference for c in result.accounts] == [Decimal(0)] * 3
    assert result.as_dict()["total_difference"] == {"EUR": "0.00", "USD": "0.00"}
    assert apply(config, data_dir, "nothing") == []


def test_a_corrected_rate_gives_the_exact_difference(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent, uk_fixed="0.0100")
    result = preview(config, data_dir, sheets_dir=sheets, account="ACME-001")

    (call,) = result.changes.iter_rows(named=True)
    # 36 s to a UK fixed line, 30/6: billed 36 s at 0.0190/min -> 0.0100/min.
    assert (call["prefix_before"], call["billable_s_before"]) == ("44", 36)
    assert call["charge_before"] == Decimal("0.0114")
    assert call["charge_after"] == Decimal("0.006")
    assert call["difference"] == Decimal("-0.0054")

    # The oracle: closing the same calls from scratch with the corrected sheets.
    fresh = make_billing_workspace(data_dir.parent / "fresh")
    text = fresh.read_text(encoding="utf-8").replace(str(ROOT / "rate_sheets"), str(sheets))
    fresh.write_text(text, encoding="utf-8")
    run_here(fresh, period=PERIOD, close=True)
    with sqlite3.connect(fresh.parent / "var" / "ledger.sqlite") as connection:
        expected = dict(connection.execute("SELECT account, total FROM invoices").fetchall())
    (acme,) = result.accounts
    assert acme.rerated == Decimal(expected["ACME-001"])
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        billed = dict(connection.execute("SELECT account, total FROM invoices").fetchall())
    assert acme.billed == Decimal(billed["ACME-001"])
    assert acme.difference == Decimal(expected["ACME-001"]) - Decimal(billed["ACME-001"])
    assert acme.difference == Decimal("-0.01")  # 66.77 -> 66.76


def test_apply_issues_credit_notes_once_and_keeps_invoices(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent, uk_fixed="0.0100")
    before = invoice_state(data_dir)
    documents = _documents(data_dir)
    pdfs = {p.name: p.read_bytes() for p in (data_dir / "invoices" / PERIOD).glob("INV-*.pdf")}

    notes = apply(config, data_dir, "UK fixed is 0.0100", sheets_dir=sheets)
    again = apply(config, data_dir, "UK fixed is 0.0100", sheets_dir=sheets)

    assert notes == ["CN-2026-000001", "CN-2026-000002"]  # ACME-001 and BETA-002
    assert again == []
    from test_invoices import cli

    listed = json.loads(cli(config, data_dir, "invoice", "list", "--format", "json").stdout)
    credit = [row for row in listed if row["kind"] == "credit_note"]
    assert [(r["number"], r["refers_to"], r["status"]) for r in credit] == [
        ("CN-2026-000001", "INV-2026-000001", "final"),
        ("CN-2026-000002", "INV-2026-000002", "final"),
    ]
    assert all(r["pdf"] and (data_dir / r["pdf"]).is_file() for r in credit)
    after = invoice_state(data_dir)
    assert [row for row in after["invoices"] if row[1] == "invoice"] == before["invoices"]
    assert {k: v for k, v in _documents(data_dir).items() if k in documents} == documents
    assert {
        p.name: p.read_bytes() for p in (data_dir / "invoices" / PERIOD).glob("INV-*.pdf")
    } == pdfs
    assert ("CN-2026", 2) in after["sequences"]
    # The stored calls are the re-rated ones; the previous files are kept for audit.
    assert preview(config, data_dir, sheets_dir=sheets).changes.is_empty()
    assert list((data_dir / "audit").rglob("*.parquet"))
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        (before_sheets, after_sheets) = connection.execute(
            "SELECT sheets_before, sheets_after FROM rerates"
        ).fetchone()
    assert before_sheets != after_sheets
    # A later run does not mistake the replaced files for orphans or lose calls.
    report = run_here(config, data_dir)
    assert report.orphans == []


def test_the_credit_note_lists_line_differences_and_tax(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent, uk_fixed="0.0100")
    apply(config, data_dir, "UK fixed", sheets_dir=sheets, account="BETA-002")
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        number, total, tax, subtotal = connection.execute(
            "SELECT number, total, tax, subtotal FROM invoices WHERE kind = 'credit_note'"
        ).fetchone()
        refers = connection.execute(
            "SELECT o.number FROM notes n JOIN invoices o ON o.invoice_id = n.corrects"
        ).fetchone()[0]
        lines = connection.execute(
            "SELECT l.kind, l.description, l.detail, l.amount FROM invoice_lines l "
            "JOIN invoices i USING (invoice_id) WHERE i.number = ?",
            (number,),
        ).fetchall()
    assert refers == "INV-2026-000002"
    assert number == "CN-2026-000001"
    assert lines  # only the lines that changed
    assert Decimal(subtotal) == sum(Decimal(amount) for *_, amount in lines)
    # 600 s to the UK: 0.19 -> 0.10; VAT 16.20 -> 16.18; total 101.47 -> 101.36.
    assert lines == [("usage", "United Kingdom Fixed", "peak", "-0.0900")]
    assert (subtotal, tax, total) == ("-0.0900", "-0.02", "-0.11")


def test_rejects_a_new_sheet_rates_go_on_a_debit_note(closed: tuple[Path, Path]) -> None:
    """+999 was no_rate; a sheet that prices it bills the call on a debit note."""
    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent, add="999,Test network,,0.5000,60,60/60,,,,,,\n")
    result = preview(config, data_dir, sheets_dir=sheets, account="ACME-001")
    (rescued,) = result.changes.iter_rows(named=True)
    assert rescued["call_id"] == "20261001-0017"
    assert rescued["charge_before"] is None
    assert rescued["charge_after"] == Decimal("0.5")

    notes = apply(config, data_dir, "network 999 priced", sheets_dir=sheets, account="ACME-001")

    assert notes == ["DN-2026-000001"]
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        total = connection.execute(
            "SELECT total FROM invoices WHERE number = 'DN-2026-000001'"
        ).fetchone()[0]
    assert total == "0.60"  # 0.50 + 19 % VAT 0.095 -> 0.10
    rejects = pl.concat(
        [pl.read_parquet(p) for p in (data_dir / "rejects").glob("*/*.parquet")],
        how="diagonal_relaxed",
    )
    assert "20261001-0017" not in rejects.get_column("call_id").to_list()


def test_notes_are_numbered_without_gaps(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    first = corrected_sheets(data_dir.parent / "a", uk_fixed="0.0100")
    second = corrected_sheets(data_dir.parent / "b", uk_fixed="0.0050")
    third = corrected_sheets(data_dir.parent / "c", uk_fixed="0.0300")
    numbers = apply(config, data_dir, "one", sheets_dir=first, account="BETA-002")
    numbers += apply(config, data_dir, "two", sheets_dir=second, account="BETA-002")
    numbers += apply(config, data_dir, "three", sheets_dir=third, account="BETA-002")
    assert numbers == ["CN-2026-000001", "CN-2026-000002", "DN-2026-000001"]
    # Invoice plus notes add up to what the latest sheets bill.
    result = preview(config, data_dir, sheets_dir=third, account="BETA-002")
    assert result.accounts[0].difference == 0
    assert result.accounts[0].billed == Decimal("101.47") + Decimal("0.13")  # 0.0300/min


def _documents(data_dir: Path) -> dict[str, str]:
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        return dict(
            connection.execute(
                "SELECT number, document FROM invoices WHERE kind = 'invoice'"
            ).fetchall()
        )


def test_explain_a_stored_call_then_and_now(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent, add="999,Test network,,0.5000,60,60/60,,,,,,\n")
    from test_invoices import cli

    stored = cli(config, data_dir, "explain", "20261001-0001", "--period", PERIOD)
    assert stored.returncode == 0, stored.stderr
    assert "Then (as stored and billed):" in stored.stdout
    assert "Difference: 0 EUR" in stored.stdout

    rescued = cli(
        config, data_dir, "explain", "20261001-0017", "--period", PERIOD, "--sheets", str(sheets)
    )
    assert rescued.returncode == 0, rescued.stderr
    assert "Then: not rated" in rescued.stdout
    assert "Charge: 0.5000 EUR" in rescued.stdout
    assert "Difference: 0.5 EUR" in rescued.stdout

    missing = cli(config, data_dir, "explain", "nope", "--period", PERIOD)
    assert missing.returncode == 2
    assert "is not stored for period 2026-10" in missing.stderr


def _stored_calls(data_dir: Path) -> list[tuple[object, ...]]:
    frames = [pl.read_parquet(p) for p in sorted((data_dir / "rated").glob("*/*.parquet"))]
    calls = pl.concat(frames, how="diagonal_relaxed").select(
        "call_id", "prefix", "band", "billable_s", pl.col("charge").cast(pl.String)
    )
    return sorted(calls.iter_rows())


@pytest.mark.parametrize(
    "kill_at", ["rerate-file-written#2", "rerate-in-transaction", "rerate-committed"]
)
def test_a_killed_apply_ends_as_an_uninterrupted_one(
    closed: tuple[Path, Path], tmp_path: Path, kill_at: str
) -> None:
    import signal
    import subprocess
    import sys

    from nightly import cli_env

    config, data_dir = closed
    sheets = corrected_sheets(tmp_path, uk_fixed="0.0100")
    reference = tmp_path / "reference"
    shutil.copytree(data_dir, reference)
    apply(config, reference, "UK fixed", sheets_dir=sheets)
    run_here(config, reference)  # removes what the apply left for the next run
    command = [sys.executable, "-m", "cdr_rating", "rerate", "--period", PERIOD]
    command += ["--sheets", str(sheets), "--apply", "--reason", "UK fixed"]
    command += ["--config", str(config)]
    killed = subprocess.run(
        command,
        env=cli_env(data_dir, CDR_RATING_TEST_KILL_AT=kill_at),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    apply(config, data_dir, "UK fixed", sheets_dir=sheets)
    run_here(config, data_dir)

    assert invoice_state(data_dir)["invoices"] == invoice_state(reference)["invoices"]
    assert invoice_state(data_dir)["sequences"] == invoice_state(reference)["sequences"]
    assert _stored_calls(data_dir) == _stored_calls(reference)


def test_the_dispute_report_lists_every_changed_call(closed: tuple[Path, Path]) -> None:
    from test_invoices import cli

    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent, uk_fixed="0.0100")
    folder = data_dir.parent / "dispute"
    done = cli(config, data_dir, "rerate", "--period", PERIOD, "--account", "BETA-002",
               "--sheets", str(sheets), "--report", str(folder))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = pl.read_csv(folder / "dispute-BETA-002-2026-10.csv", infer_schema=False)
    assert rows.select("call_id", "charge_before", "charge_after", "difference").rows() == [
        ("20261002-0302", "0.1900", "0.1000", "-0.0900")
    ]
    html = (folder / "dispute-BETA-002-2026-10.html").read_text(encoding="utf-8")
    assert "Beta Handelskontor KG" in html
    assert "-0.11" in html  # the total difference the credit note settles
    if shutil.which("pdftotext"):
        import subprocess

        text = subprocess.run(
            ["pdftotext", str(folder / "dispute-BETA-002-2026-10.pdf"), "-"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "20261002-0302" in text
        assert "Page 1 of 1" in text
    without_account = cli(config, data_dir, "rerate", "--period", PERIOD, "--report", "x")
    assert without_account.returncode == 2


def test_rerating_gives_the_allowance_to_the_first_call_whatever_order_it_came(
    tmp_path: Path,
) -> None:
    """Two 2-minute calls at 0.6/min, 60 s of allowance: 0.6 and 1.2, although the later
    call was ingested (and rated) a night before the earlier one."""
    from billingworld import ACCOUNTS_HEADER, CDR_HEADER, flat_sheet
    from cdr_rating.billing.period import bill_period
    from sheetfactory import write_sheet

    write_sheet(tmp_path / "sheets", flat_sheet(allowance_s=60))
    (tmp_path / "accounts.csv").write_text(
        f"{ACCOUNTS_HEADER}\nACME,Acme GmbH,flat,2026-01-01,0.19,+493011111,,Berlin,true\n",
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    config = tmp_path / "cdr-rating.toml"
    config.write_text(
        '[paths]\ninbox = "inbox"\nsheets = "sheets"\naccounts = "accounts.csv"\n'
        f'templates = "{ROOT / "templates"}"\n[billing]\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    nights = [("later", "2026-10-20T09:00:00Z"), ("earlier", "2026-10-02T09:00:00Z")]
    for call_id, start in nights:
        row = f"{call_id},ACME,+493011111,+4930222222,{start},120,ANSWERED"
        (tmp_path / "inbox" / f"{call_id}.csv").write_text(f"{CDR_HEADER}\n{row}\n", "utf-8")
        run_here(config)
    data_dir = tmp_path / "var"
    result = preview(config, data_dir)
    assert result.changes.is_empty()
    assert result.accounts[0].difference == 0
    # No call changed, so the period bills the stored calls as re-rated.
    settings = settings_for(config, data_dir)
    setup = billing_setup(settings, PERIOD)
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        month = StoredMonth.of(ledger, DataDir(data_dir), PERIOD)
    calls = month.rated_calls().select(CALL_COLUMNS).collect()
    billed = bill_period(calls, setup.rules, setup.plan).calls
    assert dict(billed.select("call_id", pl.col("billed").cast(pl.String)).rows()) == {
        "later": "1.200000000",
        "earlier": "0.600000000",
    }


def test_explain_shows_the_allowance_a_call_took_and_what_the_invoice_bills(
    closed: tuple[Path, Path],
) -> None:
    config, data_dir = closed
    from test_invoices import cli

    rated = pl.concat(
        [pl.read_parquet(path) for path in sorted((data_dir / "rated").rglob("*.parquet"))]
    )
    national = (
        rated.filter(pl.col("prefix").str.starts_with("4930") & (pl.col("charge") > 0))
        .sort("start", "call_id")
        .row(0, named=True)
    )
    shown = cli(config, data_dir, "explain", national["call_id"], "--period", PERIOD)

    assert shown.returncode == 0, shown.stderr
    charge = f"{national['charge'].normalize():f}"
    assert f"allowance national-1000 covers {national['billable_s']} of its" in shown.stdout
    assert f"worth {charge} EUR" in shown.stdout
    assert "the invoice bills 0 EUR for it" in shown.stdout


def test_the_summary_says_what_was_written(closed: tuple[Path, Path]) -> None:
    from test_invoices import cli

    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent, uk_fixed="0.0100")
    folder, calls = data_dir.parent / "dispute", data_dir.parent / "calls.csv"
    common = ["rerate", "--period", PERIOD, "--account", "BETA-002", "--sheets", str(sheets)]
    report = [
        f"{folder.resolve()}/dispute-BETA-002-2026-10.{ext}" for ext in ("csv", "html", "pdf")
    ]
    written = ", ".join([str(calls.resolve()), *report])

    nothing = cli(config, data_dir, *common)
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stderr.splitlines()[-1] == (
        "preview only: nothing was written (--apply --reason TEXT commits it)"
    )
    files = cli(config, data_dir, *common, "--calls", str(calls), "--report", str(folder))
    assert files.returncode == 0, files.stderr
    assert files.stderr.splitlines()[-1] == (
        f"preview: the ledger and store are unchanged; wrote {written}"
    )
    assert len(invoice_state(data_dir)["invoices"]) == 3  # no note: nothing was applied

    unwritable = data_dir.parent / "afile"
    unwritable.write_text("")
    refused = cli(config, data_dir, *common, "--apply", "--reason", "UK fixed rate",
                  "--calls", str(unwritable / "calls.csv"))  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr == (
        f"cdr-rating: error: {unwritable / 'calls.csv'}: cannot write it: Not a directory; "
        "give --calls a writable path\n"
    )
    assert len(invoice_state(data_dir)["invoices"]) == 3  # checked before anything is applied

    applied = cli(config, data_dir, *common, "--apply", "--reason", "UK fixed rate",
                  "--calls", str(calls), "--report", str(folder), "--format", "json")  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    summary = applied.stderr.splitlines()
    assert "preview" not in applied.stderr
    assert summary[-2].startswith("applied as ")
    assert summary[-2].endswith("store files replaced, notes issued: CN-2026-000001")
    assert summary[-1] == f"wrote {written}"
    document = json.loads(applied.stdout)
    assert document["written"] == written.split(", ")
    manifest = Path(document["applied"]["manifest"])
    assert manifest.is_absolute()
    assert manifest.is_file()


def test_rerating_a_period_with_no_stored_calls_says_so(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    from test_invoices import cli

    for output in ("table", "json"):
        done = cli(config, data_dir, "rerate", "--period", "2026-11", "--format", output)
        assert done.returncode == 0, done.stderr
        assert "no stored calls for 2026-11: nothing to re-rate" in done.stderr
    assert json.loads(done.stdout)["calls_changed"] == 0
