"""The line splitter every text reader uses: the dialect, line numbers, the fast path."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cdr_rating.cdrs.delimited import read_fields, read_text_lines, split_lines, split_text
from cdrformats import write


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("a,b,c", ["a", "b", "c"]),
        (",a,", ["", "a", ""]),
        ('"a,b",c', ["a,b", "c"]),
        ('"say ""hi""",x', ['say "hi"', "x"]),
        ('"",""""', ["", '"']),
        ('a"b,c"d', ['a"b', 'c"d']),  # a quote inside an unquoted field is a character
        (' "x",y', [' "x"', "y"]),  # so is a quote after a space
        ("a\x00b,\tc", ["a\x00b", "\tc"]),
        ('"a\rb",c', ["a\rb", "c"]),
    ],
)
def test_the_dialect(text: str, fields: list[str]) -> None:
    assert split_text(text) == fields


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"abc', "unbalanced quotes"),
        ('a,"b,c', "unbalanced quotes"),
        ('"x"y,z', "text between a closing quote and the next separator"),
        ('"x" ,z', "text between a closing quote and the next separator"),
    ],
)
def test_malformed_lines(text: str, problem: str) -> None:
    split = split_lines(pl.DataFrame({"line": [1], "text": [text]}), [0])
    assert split.item(0, "fields") is None
    assert split.item(0, "problem").startswith(problem)
    assert split_text(text) is None


def test_another_separator() -> None:
    assert split_text('a;"b;c";', ";") == ["a", "b;c", ""]


def test_physical_line_numbers_survive_everything(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.csv",
        b'\xef\xbb\xbfa,b\r\n\r\n"open,b\nc,"d\ne,f\n  \n"x""y",z\n\xff,g',
    )
    fields = read_fields(path, [0, 1])
    assert fields.select("line", "fields", "f0", "f1").rows() == [
        (1, 2, "a", "b"),
        (3, None, None, None),
        (4, None, None, None),
        (5, 2, "e", "f"),
        (7, 2, 'x"y', "z"),
        (8, 2, "\ufffd", "g"),
    ]
    lines = read_text_lines(path, only=pl.Series([1, 8]))
    assert lines.select("line", "text").rows() == [(1, "a,b"), (8, "\ufffd,g")]
    assert lines.get_column("cut_bytes").is_null().all()


def test_fast_path_on_a_clean_file_matches_the_exact_split(tmp_path: Path) -> None:
    rows = [f'"{i}","a,b ""{i}""",{i * 7},"",x' for i in range(2000)]
    path = write(tmp_path, "clean.csv", "\n".join(rows) + "\n")
    fast = read_fields(path, [0, 1, 2, 3, 4])
    exact = split_lines(read_text_lines(path), [0, 1, 2, 3, 4])
    assert fast.equals(exact)
    assert fast.item(5, "f1") == 'a,b "5"'


@pytest.mark.parametrize(
    "tail",
    [
        "1,2,3,4,5,6\n",  # one field too many: Polars fails, the exact split takes over
        "1,2\n",  # too few: Polars pads, that line is split again
        "1,2,3,4,\n",  # an unquoted empty last field reads as null in Polars
        "1,2,3,4,5,",  # a last line without newline and a trailing comma
        '"open\n',  # a quote that never closes
        "a\rb,2,3,4,5\n",  # a bare carriage return
    ],
)
def test_fast_path_falls_back_exactly(tmp_path: Path, tail: str) -> None:
    head = "".join(f"{i},b,c,d,e\n" for i in range(50))
    path = write(tmp_path, "x.csv", head + tail)
    assert read_fields(path, range(6)).equals(split_lines(read_text_lines(path), range(6)))
