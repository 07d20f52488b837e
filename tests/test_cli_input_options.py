"""The input options of ``rate`` and ``explain``: --format, --map, --strip-prefix."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cdrformats import FIXTURES, FLAT_SHEET
from nightly import cli_in_process as cli
from sheetfactory import write_sheet


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    return write_sheet(tmp_path / "sheet", FLAT_SHEET)


def test_format_help_lists_every_format(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one help line per option
    assert cli(monkeypatch, "rate", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "auto|canonical|asterisk|freeswitch|cgrates|mapped" in text
    for option in ("--strip-prefix", "--map", "--map-skip-rows", "--map-separator"):
        assert option in text


def test_rate_a_switch_format(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.csv"
    master = FIXTURES / "asterisk_Master.csv"
    code = cli(monkeypatch, "rate", master, FIXTURES / "ACME.csv", "--sheet", sheet, "--out", out)
    assert code == 0
    err = capsys.readouterr().err
    assert "read 10 = rated 8 + rejected 2" in err
    assert "duplicate 2" in err
    assert pl.read_csv(out).height == 8


def test_strip_prefix(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    cdrs = tmp_path / "cdrs.csv"
    cdrs.write_text(
        "call_id,caller,callee,start,duration\n"
        "a,1,1010 0049 30 1234,2026-10-01T09:00:00Z,60\n"
        "b,1,tech#0049301234,2026-10-01T09:00:00Z,60\n"
    )
    out = tmp_path / "out.csv"
    args = ["rate", cdrs, "--sheet", sheet, "--out", out]
    assert cli(monkeypatch, *args, "--strip-prefix", "1010", "--strip-prefix", "tech#") == 0
    assert "rated 2 + rejected 0" in capsys.readouterr().err
    assert pl.read_csv(out, infer_schema=False).get_column("number").to_list() == [
        "49301234",
        "49301234",
    ]
    assert cli(monkeypatch, *args, "--strip-prefix", "10 10") == 2
    assert "--strip-prefix '10 10'" in capsys.readouterr().err


def test_map_reads_a_mapped_csv_and_explains_its_calls(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    maps = [
        "--map",
        "call_id=globalCallID_callId",
        "--map",
        "callee=finalCalledPartyNumber",
        "--map",
        "start:epoch=dateTimeConnect|dateTimeOrigination",
        "--map",
        "duration=duration",
        "--map-skip-rows",
        "1",
    ]
    cucm = FIXTURES / "cucm_cdr.csv"
    assert cli(monkeypatch, "rate", cucm, "--sheet", sheet, "--out", tmp_path / "o.csv", *maps) == 0
    assert "read 3 = rated 3 + rejected 0" in capsys.readouterr().err
    assert cli(monkeypatch, "explain", "1003", cucm, "--sheet", sheet, *maps) == 0
    assert "Call 1003" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "asterisk", "--map", "callee=x"], "--map reads a mapped CSV"),
        (["--format", "mapped"], "--format mapped needs --map"),
        (["--map-skip-rows", "1"], "go with --map"),
        (["--map", "callee=a", "--map", "start=b"], "duration must be mapped"),
        (["--format", "excel"], "unknown --format 'excel'"),
    ],
)
def test_bad_input_options_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "o.csv"
    assert (
        cli(monkeypatch, "rate", FIXTURES / "ACME.csv", "--sheet", sheet, "--out", out, *args) == 2
    )
    assert message in capsys.readouterr().err


def test_undetectable_input_exits_3(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sheet: Path,
    tmp_path: Path,
) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code = cli(monkeypatch, "rate", odd, "--sheet", sheet, "--out", tmp_path / "o.csv")
    assert code == 3
    err = capsys.readouterr().err
    assert str(odd) in err
    assert "Traceback" not in err
