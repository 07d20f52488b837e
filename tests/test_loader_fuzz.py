"""Property tests: whatever bytes arrive, every reader either accounts for every line
(rated, or rejected with a reason and its line) or raises InputError; and the fast
(Polars) split always equals the exact one."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdr_rating.cdrs.delimited import read_fields, read_text_lines, split_lines
from cdr_rating.cdrs.mapped import ColumnMap
from cdr_rating.errors import InputError
from cdr_rating.pipeline import rate_files
from cdr_rating.rating import RatingPlan
from cdrformats import flat_plan

FORMATS = [
    "canonical",
    "asterisk",
    "freeswitch",
    "cgrates",
    ColumnMap.parse(["call_id=id", "callee=to", "start=at", "duration=secs"]).format_name(),
]
FORMAT_IDS = ["canonical", "asterisk", "freeswitch", "cgrates", "mapped"]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Field values that look like CDR data, and the characters that break naive parsers.
values = st.one_of(
    st.sampled_from(
        [
            "",
            "ANSWERED",
            "NO ANSWER",
            "2026-10-01 09:00:00",
            "2026-02-30 09:00:00",
            "2026-10-01T09:00:00Z",
            "60",
            "-5",
            "1e309",
            "1m30s",
            "004930123456",
            "*97",
            "call_id",
            "callee",
            "start",
            "duration",
            "id",
            "to",
            "at",
            "secs",
            "*voice",
        ]
    ),
    st.text(alphabet=st.sampled_from('ab1,"\r\x00 é'), max_size=6),
)


@st.composite
def csv_text(draw: st.DrawFn) -> bytes:
    """Comma-separated lines: some fields quoted, ragged widths, mixed line endings."""
    width = draw(st.integers(1, 20))
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        count = max(1, width + draw(st.sampled_from([0, 0, 0, -1, 1, -5])))
        fields = []
        for _ in range(count):
            value = draw(values)
            quoted = draw(st.booleans())
            fields.append('"' + value.replace('"', '""') + '"' if quoted else value)
        lines.append(",".join(fields))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from(["", ending, ending * 2]))
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = data.replace(b"b", b"\xff", 1)
    return data


@pytest.fixture(scope="module")
def plan() -> RatingPlan:
    return flat_plan(Path(tempfile.mkdtemp()))


def _check_reader(plan: RatingPlan, data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cdrs.csv"
        path.write_bytes(data)
        try:
            result = rate_files([path], plan, fmt)
        except InputError as error:
            message = str(error)
        else:
            message = None
        if message is not None:
            assert str(path) in message
            return
        assert result.reconciles()
        rejects = result.rejects
        assert rejects.get_column("reason").is_not_null().all()
        assert rejects.get_column("message").is_not_null().all()
        lines = [*result.rated.get_column("line"), *rejects.get_column("line")]
        assert len(lines) == len(set(lines)), "a line came out twice"
        physical = read_text_lines(path)
        non_blank = physical.filter(pl.col("text").str.strip_chars(" \t") != "")
        assert set(lines) <= set(non_blank.get_column("line"))


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(plan: RatingPlan, fmt: str, data: bytes) -> None:
    _check_reader(plan, data, fmt)


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
@FUZZ
@given(data=csv_text())
def test_random_csv_shaped_text(plan: RatingPlan, fmt: str, data: bytes) -> None:
    _check_reader(plan, data, fmt)


@settings(max_examples=300, deadline=None)
@given(data=csv_text())
def test_fast_split_equals_exact_split(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cdrs.csv"
        path.write_bytes(data)
        wanted = range(22)
        assert read_fields(path, wanted).equals(split_lines(read_text_lines(path), wanted))
