"""Hostile names (issue 13, case 4 and the terminal part of case 12): ids that reach file
names are validated when read, every output path is proven to stay in its folder, and
control characters never reach the terminal raw."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdr_rating.accounts import load_accounts, load_sheets
from cdr_rating.billing.fees import load_fees
from cdr_rating.cli import main
from cdr_rating.cli.console import data_console, printable
from cdr_rating.errors import ConfigError, SheetError, UsageError
from cdr_rating.names import bad_name, check_name, is_name, output_path
from cdr_rating.sheets import load_sheet
from test_accounts import write_sheets

GOOD = ["ACME-001", "a", "x.y_z-1", "-dash", "_under", "A" * 64, "INV-2026-000001.pdf"]
BAD = [
    "",
    ".hidden",
    ".",
    "..",
    "x/../../../../tmp/pwn4",
    "/etc/passwd",
    "back\\slash",
    "nul\0byte",
    "new\nline",
    "trailing-newline\n",
    "esc\x1b[2J",
    "A" * 65,
    "space here",
    "Müller",
]


@pytest.mark.parametrize("name", GOOD)
def test_safe_names_are_accepted(name: str) -> None:
    assert is_name(name)
    assert check_name(name, "--account") == name


@pytest.mark.parametrize("name", BAD)
def test_unsafe_names_are_refused_with_the_value_named(name: str) -> None:
    assert not is_name(name)
    with pytest.raises(UsageError) as caught:
        check_name(name, "--account")
    message = str(caught.value)
    assert message.startswith(f"--account {name!r} is not a valid name: use letters, digits")
    assert "\n" not in message
    assert "\0" not in message


@given(st.lists(st.text(max_size=70), max_size=20))
def test_the_polars_rule_is_the_python_rule(names: list[str]) -> None:
    names += GOOD + BAD
    flagged = pl.DataFrame({"id": names}).select(bad_name("id")).to_series().to_list()
    assert flagged == [not is_name(name) for name in names]


def test_bad_account_ids_are_configuration_errors_naming_file_and_line(tmp_path: Path) -> None:
    sheets = load_sheets(write_sheets(tmp_path))
    path = tmp_path / "accounts.csv"
    path.write_text(
        "account,sheet\n"
        "ACME,basic\n"
        "x/../../../../tmp/pwn4,basic\n"
        ".hidden,basic\n"
        "nul\0byte,basic\n"
        '"new\nline",basic\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_accounts(path, sheets)
    problems = [p for p in caught.value.problems if "is not a valid account id" in p]
    assert problems == [
        f"{path}:3: column 'account': 'x/../../../../tmp/pwn4' is not a valid account id: "
        "use letters, digits, '.', '-' and '_', at most 64 characters, not starting with '.'",
        f"{path}:4: column 'account': '.hidden' is not a valid account id: "
        "use letters, digits, '.', '-' and '_', at most 64 characters, not starting with '.'",
        f"{path}:5: column 'account': 'nul\0byte' is not a valid account id: "
        "use letters, digits, '.', '-' and '_', at most 64 characters, not starting with '.'",
        f"{path}:6: column 'account': 'new\nline' is not a valid account id: "
        "use letters, digits, '.', '-' and '_', at most 64 characters, not starting with '.'",
    ]


def test_bad_fee_accounts_are_named_by_line_once(tmp_path: Path) -> None:
    path = tmp_path / "fees.csv"
    path.write_text(
        "account,code,amount,kind,date\n"
        "ACME,TRUNK,1.00,monthly,2026-10-01\n"
        "../ACME,TRUNK,1.00,monthly,2026-10-01\n",
        encoding="utf-8",
    )
    accounts = pl.DataFrame({"account": ["ACME"]})
    with pytest.raises(ConfigError) as caught:
        load_fees(path, accounts)
    assert caught.value.problems == [
        f"{path}:3: column 'account': '../ACME' is not a valid account id: use letters, "
        "digits, '.', '-' and '_', at most 64 characters, not starting with '.'"
    ]


@pytest.mark.parametrize("sheet_id", ["../up", "a/b", ".x", "A" * 65])
def test_bad_sheet_ids_are_sheet_errors(tmp_path: Path, sheet_id: str) -> None:
    (tmp_path / "s.csv").write_text("prefix,rate\n49,1\n")
    (tmp_path / "s.toml").write_text(f'id = "{sheet_id}"\ncurrency = "EUR"\nrates = "s.csv"\n')
    with pytest.raises(SheetError) as caught:
        load_sheet(tmp_path / "s.toml")
    assert caught.value.problems == [
        f"{tmp_path / 's.toml'}: key 'id': {sheet_id!r} is not a valid sheet id: use letters, "
        "digits, '.', '-' and '_', at most 64 characters, not starting with '.'"
    ]


# output_path: the one place output file names are joined to their folder.


def test_output_path_joins_plain_names(tmp_path: Path) -> None:
    assert output_path(tmp_path, "invoices", "2026-10", "INV-2026-000001.pdf") == (
        tmp_path / "invoices" / "2026-10" / "INV-2026-000001.pdf"
    )


@pytest.mark.parametrize(
    "parts",
    [
        ("..", "pwn.csv"),
        ("dispute-x/../../../../tmp/pwn4-2026-10.csv",),
        ("/tmp/pwn.csv",),
        ("nul\0.csv",),
        ("",),
        (".",),
        ("a\\..\\b.csv",),
    ],
)
def test_output_path_refuses_path_tricks(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(UsageError, match="refused to write"):
        output_path(tmp_path / "reports", *parts)


def test_output_path_refuses_symlinks_that_lead_out(tmp_path: Path) -> None:
    folder, outside = tmp_path / "reports", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "dispute-A-2026-10.csv").symlink_to(outside / "stolen.csv")
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    (folder / "inner").symlink_to(folder / "real", target_is_directory=True)
    with pytest.raises(UsageError, match="leads out of"):
        output_path(folder, "dispute-A-2026-10.csv")
    with pytest.raises(UsageError, match="leads out of"):
        output_path(folder, "sub", "x.pdf")
    assert output_path(folder, "inner", "x.pdf") == folder / "inner" / "x.pdf"
    moved = tmp_path / "moved"  # a link to the folder itself: the folder moved elsewhere
    moved.symlink_to(outside, target_is_directory=True)
    assert output_path(moved, "x.pdf") == moved / "x.pdf"
    assert list(outside.iterdir()) == []


def test_the_dispute_writer_refuses_an_account_that_leads_out(tmp_path: Path) -> None:
    from cdr_rating.billing.document import DisputeDocument, Party
    from cdr_rating.render.dispute import write_dispute

    party = Party(name="x", address="", email="", account="x")
    document = DisputeDocument(
        account="x/../../../../../../../../tmp/pwn4", period="2026-10", period_label="",
        currency="EUR", issuer=party, customer=party, invoice=None, sheets_before="",
        sheets_after="", prepared_on="", billed="", rerated="", difference="",
        calls_difference="", rows=[],
    )  # fmt: skip
    with pytest.raises(UsageError, match="refused to write"):
        write_dispute(document, pl.DataFrame(), tmp_path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``cdr-rating ARGS`` run in this process (the entry point, exit code and all)."""
    out, err = io.StringIO(), io.StringIO()
    previous, argv = Path.cwd(), sys.argv
    os.chdir(cwd)
    sys.argv = ["cdr-rating", *args]
    try:
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exited:
            main()
    finally:
        os.chdir(previous)
        sys.argv = argv
    code = exited.value.code
    return subprocess.CompletedProcess(
        args, code if isinstance(code, int) else 1, out.getvalue(), err.getvalue()
    )


def test_a_bad_account_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    """The issue's case: nothing is written in /tmp or in the report folder."""
    target = tmp_path / "pwn4"
    hostile = f"x/../../../../../../../..{target}"
    done = cli("rerate", "--period", "2026-10", "--account", hostile, "--report", "reports",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"cdr-rating: error: --account {hostile!r} is not a valid name: use letters, digits, "
        "'.', '-' and '_', at most 64 characters, not starting with '.'\n"
    )
    assert list(tmp_path.iterdir()) == []
    preview = cli("invoice", "preview", "a\nb", "--period", "2026-10", cwd=tmp_path)
    assert preview.returncode == 2
    assert "ACCOUNT 'a\\nb' is not a valid name" in preview.stderr


def test_control_characters_in_an_error_are_escaped_on_one_line(tmp_path: Path) -> None:
    """An ESC sequence (here: retitle the window, clear the screen) in an accounts file
    reaches the terminal as text, and a quoted newline does not break the line."""
    write_sheets(tmp_path)
    (tmp_path / "accounts.csv").write_text(
        'account,sheet\n"EVIL\x1b]0;pwned\x07\x1b[2J\nX",basic\n', encoding="utf-8"
    )
    (tmp_path / "cdrs.csv").write_text("call_id,caller,callee,start,duration\n")
    done = cli("rate", "cdrs.csv", "--sheets", "sheets", "--accounts", "accounts.csv",
               "--out", "rated.csv", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "\x1b" not in done.stderr
    assert "\x07" not in done.stderr
    assert done.stderr == (
        "cdr-rating: error: accounts.csv:2: column 'account': "
        "'EVIL\\x1b]0;pwned\\x07\\x1b[2J\\x0aX' is not a valid account id: use letters, "
        "digits, '.', '-' and '_', at most 64 characters, not starting with '.'\n"
    )


def test_printable_escapes_every_control_character() -> None:
    controls = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
    shown = printable(f"a{controls}b")
    assert shown.startswith("a\\x00\\x01")
    assert shown.endswith("\\x9fb")
    assert all(ord(character) >= 0x20 and character != "\x7f" for character in shown)
    assert printable("Müller €") == "Müller €"


def test_tables_and_text_on_the_consoles_are_escaped() -> None:
    from rich.table import Table

    table = Table()
    table.add_column("Call")
    table.add_row("call\x1b]8;;http://evil.example\x1b\\click [link=http://evil.example]x[/link]")
    with data_console.capture() as captured:
        data_console.print(table)
        data_console.print("two\nlines \x9b31m")
    text = captured.get()
    assert "\x1b" not in text
    assert "\x9b" not in text
    assert "call\\x1b]8;;http://evil.example\\x1b\\click [link=http://evil.example]x" in text
    assert "two\nlines \\x9b31m" in text


def test_log_lines_are_escaped() -> None:
    import logging

    from cdr_rating.cli.logs import TextFormatter

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "file %s", ("a\x1b[2J",), None)
    assert TextFormatter().format(record) == "cdr-rating: warning: file a\\x1b[2J"


def test_a_progress_bar_on_a_terminal_is_escaped() -> None:
    """A file name in the inbox with an escape sequence, shown in the live display."""
    import io

    from rich.progress import Progress, TextColumn

    from cdr_rating.cli.console import _console

    terminal = io.StringIO()
    console = _console(file=terminal, force_terminal=True)
    with Progress(TextColumn("{task.description}"), console=console, auto_refresh=False) as bar:
        task = bar.add_task("rating \x1b]0;pwned", total=2)
        bar.update(task, completed=1)
        bar.refresh()
    assert "rating \\x1b]0;p" in terminal.getvalue()  # laid out before escaping: cut
    assert "\x1b]0;p" not in terminal.getvalue()
    assert "\x1b[?25l" in terminal.getvalue()  # Rich's own cursor control still works
