"""Inputs that must never cost money or crash: CR line endings, huge lines, absurd dates
and durations, deep TOML, corrupt, unreadable and misnamed inputs (issue 13, cases 5, 6,
11 and part of 12), through ``rate`` and ``run`` with their exit codes."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.cdrs import delimited, inputs
from cdr_rating.cdrs.canonical import empty_raw_frame
from cdr_rating.cdrs.delimited import read_fields
from cdrformats import FLAT_SHEET
from nightly import cli_in_process as cli
from nightly import corrupt_parquet, make_workspace, run_here, sample_rows, write_cdrs
from sheetfactory import write_sheet

HEADER = "call_id,account,caller,callee,start,duration"
CALL = "c{},ACME,100,004930123456,2026-10-01T09:00:00Z,60"


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    return write_sheet(tmp_path / "sheet", FLAT_SHEET)


def rate(monkeypatch: pytest.MonkeyPatch, sheet: Path, *args: str | Path) -> int:
    out = sheet.parent.parent / "rated.csv"
    return cli(monkeypatch, "rate", *args, "--sheet", sheet, "--out", out)


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line the failure printed on stderr."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_rate_reads_a_cr_only_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sheet: Path
) -> None:
    path = sheet.parent.parent / "mac.csv"
    path.write_bytes("\r".join([HEADER, CALL.format(1), CALL.format(2)]).encode() + b"\r")
    assert rate(monkeypatch, sheet, path) == 0
    assert "read 2 = rated 2 + rejected 0" in capsys.readouterr().err


def test_a_file_read_as_no_rows_is_an_input_error_in_rate_and_run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    # What a CR-only file was before it was read as lines: a reader that finds no row.
    monkeypatch.setitem(inputs.READERS, "canonical", empty_raw_frame)
    path = write_cdrs(tmp_path / "lost.csv", sample_rows()[1][:3])
    assert rate(monkeypatch, sheet, path) == 3
    assert "lost.csv: has " in error_line(capsys)
    config = make_workspace(tmp_path / "night")
    assert cli(monkeypatch, "run", "--config", config) == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "2026-10-01-a.csv: has " in last
    assert "bytes but not one CDR row" in last


def test_a_header_alone_is_a_quiet_day(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sheet: Path
) -> None:
    path = sheet.parent.parent / "quiet.csv"
    path.write_text(HEADER + "\n\n")
    assert rate(monkeypatch, sheet, path) == 0
    assert "read 0 = rated 0 + rejected 0" in capsys.readouterr().err


def test_reading_a_long_line_holds_a_bounded_amount(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(delimited, "_READ_CHUNK", 1 << 20)
    long = "c2,ACME,100," + "9" * (24 << 20) + ",2026-10-01T09:00:00Z,60"
    path = tmp_path / "long.csv"
    path.write_text("\n".join([HEADER, CALL.format(1), long, CALL.format(3)]) + "\n")
    tracemalloc.start()
    try:
        fields = read_fields(path, [0, 3])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 << 20  # a quarter of the line: what is held does not grow with it
    assert fields.get_column("fields").to_list() == [6, 6, None, 6]
    assert fields.item(2, "problem").startswith(f"the line is {len(long)} bytes long")


def test_a_50_mb_field_is_one_reject(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sheet: Path
) -> None:
    path = sheet.parent.parent / "field.csv"
    field = '"' + "x" * 50_000_000 + '"'
    rows = [HEADER, CALL.format(1), f"c2,ACME,{field},004930123456,2026-10-01T09:00:00Z,60"]
    path.write_text("\n".join(rows) + "\n")
    rejects = sheet.parent.parent / "rejects.csv"
    assert rate(monkeypatch, sheet, path, "--rejects", rejects) == 0
    assert "read 2 = rated 1 + rejected 1" in capsys.readouterr().err
    rejected = pl.read_csv(rejects)
    assert rejected.select("line", "reason").rows() == [(3, "parse_error")]


def test_a_night_with_a_start_in_year_1_rates_the_rest(tmp_path: Path) -> None:
    config = make_workspace(tmp_path)
    call = "y{},ACME-001,+493023125001,+493023125777,{}-10-02T09:00:00Z,60,ANSWERED"
    years = ("2026", "0001", "9999", "-0001")
    write_cdrs(
        config.parent / "inbox" / "2026-10-02.csv", [call.format(*y) for y in enumerate(years)]
    )
    report = run_here(config)
    assert report.reconciles()
    assert report.rejected_by_reason["bad_time"] == 4  # three here, and the workspace's own
    assert set(report.periods) <= {"2026-10", "2026-11", "unknown"}


def test_max_duration_is_a_config_key_and_an_option(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    path = sheet.parent.parent / "calls.csv"
    path.write_text("\n".join([HEADER, CALL.format(1), CALL.format(2).replace(",60", ",7200")]))
    assert rate(monkeypatch, sheet, path, "--max-duration", "3600") == 0
    assert "rejected by reason: bad_duration 1" in capsys.readouterr().err
    assert rate(monkeypatch, sheet, path, "--max-duration", "0") == 2
    assert error_line(capsys) == (
        "cdr-rating: error: --max-duration must be a whole number of seconds >= 1 (got 0)"
    )
    config = make_workspace(tmp_path / "night")
    text = config.read_text()
    config.write_text(text + "\n[input]\nmax_duration_s = 60\n")
    report = run_here(config)
    assert report.rejected_by_reason["bad_duration"] > 0
    config.write_text(text + "\n[input]\nmax_duration_s = 0\n")
    assert cli(monkeypatch, "run", "--config", config) == 2
    assert "key 'input.max_duration_s': must be a whole number of seconds >= 1" in (
        capsys.readouterr().err
    )


def test_deeply_nested_toml_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert cli(monkeypatch, "sheet", "check", deep) == 2
    assert "deep.toml: TOML nested too deeply" in capsys.readouterr().err
    assert cli(monkeypatch, "run", "--config", deep) == 2
    assert "deep.toml: TOML nested too deeply" in capsys.readouterr().err


def test_corrupt_parquet_names_the_file_in_rate_and_run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    bad = corrupt_parquet(tmp_path / "bad.parquet")
    assert rate(monkeypatch, sheet, bad) == 3
    assert "bad.parquet: cannot be read" in error_line(capsys)
    config = make_workspace(tmp_path / "night")
    corrupt_parquet(config.parent / "inbox" / "broken.parquet")
    assert cli(monkeypatch, "run", "--config", config) == 3
    assert "broken.parquet: cannot be read" in capsys.readouterr().err.strip().splitlines()[-1]


def test_unreadable_inputs_exit_3_and_a_directory_is_a_directory(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "day.csv"
    folder.mkdir()
    assert rate(monkeypatch, sheet, folder) == 3
    assert error_line(capsys).endswith("day.csv: is a directory; give the CDR files in it")
    assert rate(monkeypatch, sheet, tmp_path / ("x" * 300 + ".csv")) == 3
    assert "File name too long" in error_line(capsys)
    locked = tmp_path / "locked.csv"
    locked.write_text(HEADER + "\n" + CALL.format(1) + "\n")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)
    assert rate(monkeypatch, sheet, locked) == 3
    assert error_line(capsys).endswith("locked.csv: cannot be read (Permission denied)")
