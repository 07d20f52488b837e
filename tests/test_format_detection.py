"""--format auto: each format is recognised by its first line, and nothing is guessed."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.cdrs.inputs import FORMATS, READERS, detect_format, read_inputs
from cdr_rating.errors import InputError, UsageError
from cdrformats import FIXTURES, write


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("asterisk_Master.csv", "asterisk"),
        ("ACME.csv", "asterisk"),
        ("asterisk_16_columns.csv", "asterisk"),
        ("asterisk_21_columns.csv", "asterisk"),
        ("freeswitch_example.csv", "freeswitch"),
        ("freeswitch_default.csv", "freeswitch"),
        ("cgrates_cdrs.csv", "cgrates"),
    ],
)
def test_each_format_is_recognised(fixture: str, expected: str) -> None:
    assert detect_format(FIXTURES / fixture) == expected


def test_canonical_csv_and_parquet(tmp_path: Path) -> None:
    csv = write(tmp_path, "c.csv", "\ufeffCall_ID,caller,callee,start,duration\n")
    assert detect_format(csv) == "canonical"
    parquet = tmp_path / "c.parquet"
    pl.DataFrame({"call_id": ["a"]}).write_parquet(parquet)
    assert detect_format(parquet) == "canonical"


def test_blank_lines_before_the_first_line_are_skipped(tmp_path: Path) -> None:
    text = (FIXTURES / "freeswitch_default.csv").read_text()
    assert detect_format(write(tmp_path, "fs.csv", "\n  \r\n" + text)) == "freeswitch"


def test_a_mapped_layout_is_never_detected() -> None:
    with pytest.raises(InputError, match="cannot tell its CDR format from line 1"):
        detect_format(FIXTURES / "cucm_cdr.csv")


def test_a_line_that_fits_two_formats_is_not_guessed(tmp_path: Path) -> None:
    # 18 fields, times at 9 and 11, digits at 12 and 13 (Asterisk); a ToR-like "*x" at
    # 2 and a time at 11 with a usage at 13 (CGRateS).
    fields = ["a", "b", "*x", "d", "e", "f", "g", "h", "i", "2026-10-01 09:00:00", ""]
    fields += ["2026-10-01 09:00:10", "10", "10", "ANSWERED", "DOCUMENTATION", "1.1", ""]
    path = write(tmp_path, "both.csv", ",".join(fields) + "\n")
    with pytest.raises(InputError, match=r"fits more than one CDR format \(asterisk, cgrates\)"):
        detect_format(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"when,who,what\n1,2,3\n", "cannot tell its CDR format from line 1"),
        (b"\x00\x01\x02\xff\xfe garbage\n", "is not text"),
        (b'"unbalanced,quote\n', "cannot tell its CDR format"),
        (gzip.compress(b"a,b\n", mtime=0), "gzip-compressed"),
    ],
)
def test_undetectable_files_are_input_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path, "x.csv", content)
    with pytest.raises(InputError, match=message) as caught:
        detect_format(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"\n", b"  \r\n\t\n"])
def test_empty_and_blank_files_read_no_rows(tmp_path: Path, content: bytes) -> None:
    (frame,) = read_inputs([write(tmp_path, "x.csv", content)])
    assert frame.collect().height == 0


def test_formats_listed_for_the_command_line() -> None:
    assert FORMATS == ("auto", "canonical", "asterisk", "freeswitch", "cgrates", "mapped")
    assert set(READERS) == set(FORMATS) - {"auto", "mapped"}


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown --format 'csv'"):
        read_inputs([FIXTURES / "ACME.csv"], "csv")


def test_a_directory_or_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_inputs([tmp_path / "missing.csv"])
    with pytest.raises(InputError, match="is a directory; give the CDR files in it"):
        read_inputs([tmp_path])
