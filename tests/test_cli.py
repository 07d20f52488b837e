"""The command line contract: outputs, the reconciliation on stderr, exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import typer.main
from typer.testing import CliRunner

from cdr_rating.cli import app
from nightly import corrupt_parquet

SHEET = """\
id = "split"
currency = "EUR"
timezone = "Europe/Berlin"
rates = "split.csv"
band_mode = "split"

[rounding]
decimals = 4
method = "half_up"

[bands.day]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "00:00"
to = "18:00"
"""
RATES = "prefix,destination,band,rate,unit_s,connect_fee\n1,USA,day,1,1,1\n1,USA,offpeak,0.5,1,\n"
CDRS = (
    "call_id,caller,callee,start,duration\n"
    # Thursday 1 October 2026, 17:30 in Berlin: the contract's 2701 example.
    "long,100,+1 555 0100,2026-10-01T17:30:00+02:00,3600\n"
    "nomatch,100,+44 20,2026-10-01T17:30:00+02:00,60\n"
)


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdr_rating", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "split.toml").write_text(SHEET)
    (tmp_path / "split.csv").write_text(RATES)
    (tmp_path / "cdrs.csv").write_text(CDRS)
    return tmp_path


def test_rate_writes_csv_with_sheet_decimals(workdir: Path) -> None:
    done = run(
        "rate",
        "cdrs.csv",
        "--sheet",
        "split.toml",
        "--out",
        "out.csv",
        "--rejects",
        "rej.csv",
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "read 2 = rated 1 + rejected 1" in done.stderr
    assert "total EUR 2701.0000 for 1 calls" in done.stderr
    out = pl.read_csv(workdir / "out.csv", infer_schema=False)
    assert out.columns[:14] == [
        "call_id",
        "account",
        "caller",
        "callee",
        "number",
        "start",
        "duration_s",
        "billable_s",
        "sheet",
        "prefix",
        "destination",
        "band",
        "charge",
        "currency",
    ]
    assert out.select("number", "start", "band", "charge").row(0) == (
        "15550100",
        "2026-10-01T15:30:00Z",
        "day",
        "2701.0000",
    )
    rejects = pl.read_csv(workdir / "rej.csv", infer_schema=False)
    assert rejects.columns == ["file", "line", "call_id", "reason", "message", "raw"]
    assert rejects.select("line", "reason").row(0) == ("3", "no_rate")


def test_rate_writes_parquet_with_decimal_money(workdir: Path) -> None:
    done = run("rate", "cdrs.csv", "--sheet", "split.toml", "--out", "out.parquet", cwd=workdir)
    assert done.returncode == 0, done.stderr
    out = pl.read_parquet(workdir / "out.parquet")
    assert out.schema["charge"] == pl.Decimal(38, 4)
    assert str(out.get_column("charge")[0]) == "2701.0000"


def test_split_sheet_with_no_call_crossing_a_band(workdir: Path) -> None:
    (workdir / "short.csv").write_text(
        "call_id,caller,callee,start,duration\nshort,1,1555,2026-10-01T10:00:00Z,60\n"
    )
    done = run("rate", "short.csv", "--sheet", "split.toml", "--out", "out.csv", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "total EUR 61.0000 for 1 calls" in done.stderr


def test_output_keeps_the_input_order(workdir: Path) -> None:
    rows = "".join(
        f"c{i},1,1555,2026-10-01T{10 + i % 10}:00:00+02:00,{60 * (i % 7)}\n" for i in range(40)
    )
    (workdir / "many.csv").write_text("call_id,caller,callee,start,duration\n" + rows)
    done = run("rate", "many.csv", "--sheet", "split.toml", "--out", "out.csv", cwd=workdir)
    assert done.returncode == 0, done.stderr
    order = pl.read_csv(workdir / "out.csv").get_column("call_id").to_list()
    assert order == [f"c{i}" for i in range(40)]


def test_fail_on_rejects_exits_4_after_writing(workdir: Path) -> None:
    done = run(
        "rate",
        "cdrs.csv",
        "--sheet",
        "split.toml",
        "--out",
        "out.csv",
        "--fail-on-rejects",
        cwd=workdir,
    )
    assert done.returncode == 4
    assert (workdir / "out.csv").exists()


def test_invalid_sheet_exits_2_with_one_line_per_problem(workdir: Path) -> None:
    (workdir / "split.csv").write_text("prefix,band,rate\n1,night,-1\n")
    done = run("rate", "cdrs.csv", "--sheet", "split.toml", "--out", "out.csv", cwd=workdir)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("cdr-rating: error: ") and "split.csv:2" in line for line in lines)
    assert "Traceback" not in done.stderr


def test_missing_input_exits_3(workdir: Path) -> None:
    done = run("rate", "missing.csv", "--sheet", "split.toml", "--out", "out.csv", cwd=workdir)
    assert done.returncode == 3
    assert done.stderr.strip() == "cdr-rating: error: missing.csv: input file not found"


def test_bad_option_exits_2(workdir: Path) -> None:
    assert (
        run("rate", "cdrs.csv", "--sheet", "split.toml", "--out", "out.txt", cwd=workdir).returncode
        == 2
    )
    assert run("rate", "cdrs.csv", "--out", "out.csv", cwd=workdir).returncode == 2
    assert (
        run(
            "rate",
            "cdrs.csv",
            "--sheet",
            "split.toml",
            "--out",
            "o.csv",
            "--input-tz",
            "Mars/Base",
            cwd=workdir,
        ).returncode
        == 2
    )
    assert run("rate", "--bogus", cwd=workdir).returncode == 2


def test_explain_shows_the_arithmetic(workdir: Path) -> None:
    done = run("explain", "long", "cdrs.csv", "--sheet", "split.toml", cwd=workdir)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "normalised to 15550100" in text
    assert "Thu 2026-10-01 17:30:00 CEST" in text
    assert "band:     day" in text
    assert "<- chosen" in text
    assert "Charge: 2701.0000 EUR" in text
    assert "crosses a band change" in text
    assert "from Thu 17:30:00 band day, tier 1, prefix 1: 1800 s x 1 / 1 s = 1800" in text
    assert "from Thu 18:00:00 band offpeak, tier 1, prefix 1: 1800 s x 0.5 / 1 s = 900" in text
    assert "connect fee 1; usage 2700; exact 2701" in text


def test_explain_a_rejected_call(workdir: Path) -> None:
    done = run("explain", "nomatch", "cdrs.csv", "--sheet", "split.toml", cwd=workdir)
    assert done.returncode == 0
    assert "reason:  no_rate" in done.stdout


def test_explain_unknown_call_exits_2(workdir: Path) -> None:
    done = run("explain", "ghost", "cdrs.csv", "--sheet", "split.toml", cwd=workdir)
    assert done.returncode == 2
    assert "call_id 'ghost' is not in the given input files" in done.stderr


def test_sheet_check(workdir: Path) -> None:
    good = run("sheet", "check", "split.toml", cwd=workdir)
    assert good.returncode == 0
    assert "split.toml: ok: sheet split (EUR), 2 tier rows" in good.stdout
    (workdir / "bad.toml").write_text(SHEET.replace("split.csv", "bad.csv"))
    (workdir / "bad.csv").write_text("prefix,rate\nx1,1\n")
    bad = run("sheet", "check", "split.toml", "bad.toml", cwd=workdir)
    assert bad.returncode == 2
    assert "bad.csv:2: column 'prefix'" in bad.stderr


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf command of the program, with the words that call it."""
    if not hasattr(command, "list_commands"):
        yield path, command
        return
    for name in command.list_commands(None):
        yield from _commands(command.get_command(None, name), (*path, name))


def test_help_shows_boolean_flags_without_a_value() -> None:
    """``--close`` takes no value, so its help line shows none (no ``<bool>``, ``BOOLEAN``)."""
    runner = CliRunner()
    checked = []
    for path, command in _commands(typer.main.get_command(app)):
        done = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
        assert done.exit_code == 0, done.output
        assert "<bool>" not in done.output, path
        assert "BOOLEAN" not in done.output, path
        flags = [p.opts[0] for p in command.params if getattr(p, "is_flag", False)]
        for flag in [*flags, "--help"]:
            [line] = [x for x in done.output.splitlines() if x.split()[:1] == [flag]]
            # The flag, then at least two spaces, then its help text: no value placeholder.
            assert re.fullmatch(rf"\s+{flag}\s{{2,}}[^\s<][^<>]*", line), (path, line)
            checked.append((path, flag))
    assert (("run",), "--close") in checked
    assert (("rerate",), "--apply") in checked
    assert (("rate",), "--fail-on-rejects") in checked
    assert (("sheet", "import"), "--skip-bad-rows") in checked


def test_a_boolean_flag_rejects_a_value(workdir: Path) -> None:
    done = run("run", "--close", "true", cwd=workdir)
    assert done.returncode == 2
    assert done.stderr == (
        "cdr-rating: error: Got unexpected extra argument(s) (true) (see cdr-rating run --help)\n"
    )


def test_a_bad_option_is_one_line(workdir: Path) -> None:
    done = run(
        "rate", "cdrs.csv", "--sheet", "split.toml", "--out", "o.csv", "--bogus", cwd=workdir
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("cdr-rating: error: No such option: --bogus")
    assert line.endswith("(see cdr-rating rate --help)")


@pytest.mark.parametrize("option", ["--out", "--rejects"])
def test_rate_into_an_unwritable_place_exits_2(workdir: Path, option: str) -> None:
    (workdir / "afile").write_text("")  # a file where a folder should be: fails for root too
    outputs = {"--out": "out.csv", "--rejects": "rej.csv", option: "afile/x.csv"}
    given = [word for pair in outputs.items() for word in pair]
    done = run("rate", "cdrs.csv", "--sheet", "split.toml", *given, cwd=workdir)
    assert done.returncode == 2
    assert done.stderr == (
        f"cdr-rating: error: afile/x.csv: cannot write it: Not a directory; give {option} a "
        "writable path\n"
    )


def test_rate_a_corrupt_parquet_file_exits_3_naming_it(workdir: Path) -> None:
    corrupt_parquet(workdir / "corrupt.parquet")
    done = run("rate", "cdrs.csv", "corrupt.parquet", "--sheet", "split.toml", "--out", "o.csv",
               cwd=workdir)  # fmt: skip
    assert done.returncode == 3
    [line] = done.stderr.splitlines()
    assert line.startswith("cdr-rating: error: corrupt.parquet: cannot be read (parquet: ")
    assert not (workdir / "o.csv").exists()


def test_rate_a_directory_exits_3_naming_it(workdir: Path) -> None:
    (workdir / "calls.csv").mkdir()
    done = run("rate", "calls.csv", "--sheet", "split.toml", "--out", "o.csv", cwd=workdir)
    assert done.returncode == 3
    assert done.stderr == "cdr-rating: error: calls.csv: is a directory; give the CDR files in it\n"


def test_help_loads_no_library() -> None:
    """`cdr-rating --help` and `rate --help` describe commands without loading Polars,
    pyarrow or WeasyPrint: a command that renders nothing starts fast. (Typer itself
    loads pydantic for its parameter adapters.)"""
    probe = (
        "import sys\n"
        "from cdr_rating.cli import main\n"
        "for args in (['cdr-rating', '--help'], ['cdr-rating', 'rate', '--help'],"
        " ['cdr-rating', 'sheet', 'import', '--help']):\n"
        "    sys.argv = args\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('polars', 'pyarrow', 'pydantic_settings', 'weasyprint', 'jinja2', 'sqlite3')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_program_help_lists_each_command_as_it_describes_itself() -> None:
    from cdr_rating.cli import COMMANDS, load_command

    for name, (_, _, short) in COMMANDS.items():
        command = load_command(name)
        assert " ".join((command.help or "").split()).startswith(short), name
