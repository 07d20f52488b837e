"""Hostile values in a billed period (issue 13, case 10 and the permissions of case 12):
the dispute CSV that goes to the customer cannot run formulas in a spreadsheet, the
machine outputs stay exact, the terminal shows escapes, and the data directory is for
its owner and group only, whatever the umask."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.output import for_people
from nightly import ROOT, run_here
from test_invoices import PERIOD, cli, make_billing_workspace
from test_rerate import corrected_sheets
from test_safe_names import cli as run

# BETA-002's UK fixed calls, which the corrected sheet prices differently.
CALL = "BETA-002,+494066969101,+44 20 7946 0999,2026-10-0{day}T10:10:00+02:00,600,ANSWERED"
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "@SUM(1)", "-2+3+cmd|' /C calc'!A0"]
ESCAPE = "esc\x1b]0;pwned\x07-1"


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("hostile") / "work"
    config = make_billing_workspace(folder)
    rows = [
        f"{_quoted(call_id)},{CALL.format(day=day)}"
        for day, call_id in enumerate([*FORMULAS, ESCAPE], start=3)
    ]
    (folder / "inbox" / "hostile.csv").write_text(
        "call_id,account,caller,callee,start,duration,disposition\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    previous = os.umask(0)  # the worst umask: without explicit modes, all is 0777/0666
    try:
        run_here(config, period=PERIOD, close=True)
    finally:
        os.umask(previous)
    return config, folder / "var"


def test_the_data_directory_is_for_owner_and_group_only(closed: tuple[Path, Path]) -> None:
    _, data_dir = closed
    modes = {
        path.relative_to(data_dir.parent).as_posix(): stat.S_IMODE(path.lstat().st_mode)
        for path in [data_dir, *data_dir.rglob("*")]
    }
    assert {"var/ledger.sqlite", "var/run.lock", "var/invoices/2026-10"} <= set(modes)
    assert any(name.endswith(".pdf") for name in modes)
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o750 if (data_dir.parent / name).is_dir() else 0o640)
    }
    assert wrong == {}


def test_the_systemd_unit_sets_a_private_umask() -> None:
    operations = ROOT / "docs" / "operations.md"
    unit = operations.read_text(encoding="utf-8").split("[Service]", 1)[1].split("```", 1)[0]
    assert "\nUMask=0027\n" in unit
    assert "\nStateDirectoryMode=0750\n" in unit


def test_the_dispute_csv_cannot_run_formulas(closed: tuple[Path, Path]) -> None:
    config, data_dir = closed
    sheets = corrected_sheets(data_dir.parent / "sheets", uk_fixed="0.0100")
    folder, calls = data_dir.parent / "dispute", data_dir.parent / "calls.csv"
    done = cli(config, data_dir, "rerate", "--period", PERIOD, "--account", "BETA-002",
               "--sheets", str(sheets), "--report", str(folder), "--calls", str(calls))  # fmt: skip
    assert done.returncode == 0, done.stderr

    rows = pl.read_csv(folder / "dispute-BETA-002-2026-10.csv", infer_schema=False)
    by_call = {row["call_id"]: row for row in rows.iter_rows(named=True)}
    assert set(by_call) == {"20261002-0302", *(f"'{formula}" for formula in FORMULAS), ESCAPE}
    hyperlink = by_call[f"'{FORMULAS[0]}"]
    # Numbers stay numbers: a spreadsheet adds up the differences and charges.
    assert (hyperlink["number"], hyperlink["charge_before"], hyperlink["difference"]) == (
        "+442079460999",
        "0.1900",
        "-0.0900",
    )
    # --calls is a machine output: exactly what was stored.
    exact = pl.read_csv(calls, infer_schema=False).get_column("call_id").to_list()
    assert set(exact) == {"20261002-0302", *FORMULAS, ESCAPE}

    # The changed calls on the terminal: the escape sequence shows as text.
    assert "\x1b" not in done.stdout
    assert "esc\\x1b]0;pwned" in done.stdout


def test_machine_outputs_stay_exact(closed: tuple[Path, Path]) -> None:
    config, _ = closed
    work = config.parent
    done = run("rate", str(work / "inbox" / "hostile.csv"),
               "--sheets", str(ROOT / "rate_sheets"), "--accounts", str(work / "accounts.csv"),
               "--out", str(work / "rated.csv"), "--rejects", str(work / "rejects.csv"),
               cwd=work)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rated = pl.read_csv(work / "rated.csv", infer_schema=False)
    assert rated.get_column("call_id").to_list() == [*FORMULAS, ESCAPE]


def test_for_people_quotes_formulas_in_text_columns_only() -> None:
    frame = pl.DataFrame(
        {
            "text": [
                "=1+2",
                "+1+2",
                "-1+2",
                "@SUM(1)",
                "\tx",
                "\rx",
                "-1.50",
                "+49301",
                "ok",
                None,
            ],
            "amount": [-1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        }
    )
    people = for_people(frame)
    assert people.get_column("text").to_list() == [
        "'=1+2", "'+1+2", "'-1+2", "'@SUM(1)", "'\tx", "'\rx", "-1.50", "+49301", "ok", None,
    ]  # fmt: skip
    assert people.get_column("amount").to_list() == frame.get_column("amount").to_list()
    assert for_people(frame.lazy()).collect().equals(people)


def test_an_invoice_is_never_written_through_a_link_that_leads_out(
    closed: tuple[Path, Path], tmp_path: Path
) -> None:
    from cdr_rating.errors import UsageError
    from cdr_rating.jobs.close import render_missing
    from cdr_rating.ledger import Ledger
    from nightly import settings_for

    config, data_dir = closed
    copy = tmp_path / "var"
    shutil.copytree(data_dir, copy, symlinks=True)
    pdf = sorted((copy / "invoices" / PERIOD).glob("INV-*.pdf"))[0]
    pdf.unlink()
    outside = tmp_path / "outside.pdf"
    pdf.symlink_to(outside)
    with (
        Ledger.open(copy / "ledger.sqlite") as ledger,
        pytest.raises(UsageError, match="leads out of"),
    ):
        render_missing(settings_for(config, copy), ledger, PERIOD)
    assert not outside.exists()
