"""Hostile input, for every reader: good rows are rated, each bad row is rejected with its
reason and physical line, read = rated + rejected, and nothing raises but InputError."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cdr_rating.cdrs import InputOptions
from cdr_rating.cdrs.mapped import ColumnMap
from cdr_rating.errors import InputError
from cdr_rating.pipeline import RatingResult
from cdr_rating.rating import RatingPlan
from cdrformats import flat_plan, rate, rejected, write


@dataclass(frozen=True)
class Layout:
    """One format as these tests write it: a good row, and where its fields are."""

    name: str
    fmt: str
    fields: tuple[str, ...]
    ident: int  # the field that makes a row's call_id unique
    callee: int
    start: int  # where billing starts (answer time when there is one)
    duration: int  # the billable duration
    header: str | None = None
    total: int | None = None  # the whole duration, when the format has one

    def line(self, row: int, **changes: str) -> str:
        """Row ``row`` (its own call_id) with fields replaced by name, all quoted."""
        fields = list(self.fields)
        fields[self.ident] = f"{fields[self.ident]}{row}"
        for name, value in changes.items():
            fields[getattr(self, name)] = value
        return ",".join('"' + value.replace('"', '""') + '"' for value in fields)

    def file(self, directory: Path, lines: list[str], ending: str = "\n") -> Path:
        text = "".join(line + ending for line in lines)
        if self.header is not None:
            text = self.header + ending + text
        return write(directory, f"{self.name}.csv", text)

    @property
    def first(self) -> int:
        """The physical line of the first data row."""
        return 1 if self.header is None else 2


def fields(text: str) -> tuple[str, ...]:
    """A row's fields written on one line, separated by ``|``."""
    return tuple(text.split("|"))


LAYOUTS = [
    Layout(
        "canonical",
        "canonical",
        fields("c|ACME|100|004930123456|2026-10-01T09:00:00Z|60|ANSWERED"),
        ident=0,
        callee=3,
        start=4,
        duration=5,
        header="call_id,account,caller,callee,start,duration,disposition",
    ),
    Layout(
        "asterisk",
        "asterisk",
        fields(
            'ACME|100|004930123456|ctx|"Anna" <100>|SIP/a-1|SIP/t-1|Dial|SIP/t/004930123456,60'
            "|2026-10-01 09:00:00|2026-10-01 09:00:05|2026-10-01 09:01:05|65|60|ANSWERED"
            "|BILLING|1790838000.|"
        ),
        ident=16,
        callee=2,
        start=10,
        duration=13,
        total=12,
    ),
    Layout(
        "freeswitch",
        "freeswitch",
        fields(
            "Anna|100|004930123456|default|2026-10-01 09:00:00|2026-10-01 09:00:05"
            "|2026-10-01 09:01:05|65|60|NORMAL_CLEARING|uuid-||ACME|PCMA|PCMA"
        ),
        ident=10,
        callee=2,
        start=5,
        duration=8,
        total=7,
    ),
    Layout(
        "cgrates",
        "cgrates",
        fields(
            "cgrid|*default|*voice|origin-|*rated|*out|example.org|call|ACME|100|004930123456"
            "|2026-10-01 09:00:00 +0000 UTC|2026-10-01 09:00:05 +0000 UTC|1m|0.02|"
        ),
        ident=3,
        callee=10,
        start=12,
        duration=13,
    ),
    Layout(
        "mapped",
        ColumnMap.parse(
            ["call_id=ID", "caller=From", "callee=To", "start=Begin", "duration=Seconds"]
        ).format_name(),
        fields("m|100|004930123456|2026-10-01T09:00:00Z|60"),
        ident=0,
        callee=2,
        start=3,
        duration=4,
        header="ID,From,To,Begin,Seconds",
    ),
]
# A value of 5,000 digits, in the unit of each format's duration field.
HUGE = "9" * 5000


def _duration(layout: Layout, seconds: str) -> str:
    """A duration in the format's own notation (CGRateS writes Go durations)."""
    return seconds + "s" if layout.name == "cgrates" and seconds[-1:].isdigit() else seconds


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> RatingPlan:
    return flat_plan(tmp_path_factory.mktemp("sheet"))


def run(layout: Layout, path: Path, plan: RatingPlan) -> RatingResult:
    return rate([path], plan, layout.fmt)


def by_line(result: RatingResult) -> dict[int, str]:
    return dict(rejected(result))


layouts = pytest.mark.parametrize("layout", LAYOUTS, ids=[layout.name for layout in LAYOUTS])


@layouts
def test_good_rows_are_rated(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    result = run(layout, layout.file(tmp_path, [layout.line(1), layout.line(2)]), plan)
    assert (result.rated.height, result.rejects.height) == (2, 0)
    assert result.rated.get_column("number").to_list() == ["4930123456"] * 2


@layouts
def test_binary_garbage_is_an_input_error(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    garbage = bytes(range(256)) * 40 + b"\n\x00\x01\x02\n\xff\xfe\xfd"
    path = write(tmp_path, "garbage.csv", garbage)
    with pytest.raises(InputError, match=r"garbage\.csv"):
        run(layout, path, plan)
    with pytest.raises(InputError, match=r"garbage\.csv"):
        rate([path], plan)


@layouts
def test_empty_file(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    result = run(layout, write(tmp_path, "empty.csv", ""), plan)
    assert result.read == 0


@layouts
def test_truncated_last_line(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    cut = layout.line(2)[: len(layout.line(2)) // 2]
    path = layout.file(tmp_path, [layout.line(1)])
    path.write_text(path.read_text() + cut)  # no newline: the writer died mid-line
    result = run(layout, path, plan)
    assert result.rated.height == 1
    assert by_line(result) == {layout.first + 1: "parse_error"}
    assert result.rejects.item(0, "raw") == cut


@layouts
@pytest.mark.parametrize("change", ["more", "fewer"])
def test_ragged_rows(layout: Layout, tmp_path: Path, plan: RatingPlan, change: str) -> None:
    if layout.name == "cgrates" and change == "more":
        pytest.skip("CGRateS rows may carry any number of extra fields after the 15")
    ragged = layout.line(2) + ',"x","y","z","w"' if change == "more" else layout.line(2)[:-30]
    ragged = ragged if change == "more" else ragged[: ragged.rindex(",")]
    lines = [layout.line(1), ragged, layout.line(3)]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert result.rated.height == 2
    assert by_line(result) == {layout.first + 1: "parse_error"}
    assert "fields" in result.rejects.item(0, "message")


@layouts
def test_unbalanced_quotes_hit_one_line_only(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    broken = layout.line(2).replace('","', ',"', 1)
    lines = [layout.line(1), broken, layout.line(3), layout.line(4)]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert result.rated.height == 3
    assert by_line(result) == {layout.first + 1: "parse_error"}
    assert "quote" in result.rejects.item(0, "message")


@layouts
def test_a_quoted_newline_rejects_both_halves(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    split = layout.line(2).replace(",", ',"\n', 1).replace('"\n"', '"\n', 1)
    lines = [layout.line(1), split, layout.line(3)]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert result.rated.height == 2
    # The first half has an unbalanced quote. The second is rejected too, but for a
    # reason that depends on where the line was cut: its stray quote is a plain
    # character in an unquoted field, so it may split into a valid count of fields.
    assert set(by_line(result)) == {layout.first + 1, layout.first + 2}
    assert by_line(result)[layout.first + 1] == "parse_error"


@layouts
def test_nul_bytes(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    lines = [
        layout.line(1),
        layout.line(2, callee="0049\x0030123"),
        "\x00" * 40,
        layout.line(3),
    ]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert result.rated.height == 2
    assert by_line(result) == {layout.first + 1: "bad_number", layout.first + 2: "parse_error"}


@layouts
def test_five_thousand_digits(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    lines = [
        layout.line(1, callee=HUGE),
        layout.line(2, duration=_duration(layout, HUGE)),
        layout.line(3),
    ]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert result.rated.height == 1
    assert by_line(result) == {layout.first: "bad_number", layout.first + 1: "bad_duration"}


@layouts
def test_impossible_dates(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    start = layout.fields[layout.start].replace("-10-01", "-02-30")
    lines = [layout.line(1, start=start), layout.line(2, start="2026-13-01 25:61:00")]
    result = run(layout, layout.file(tmp_path, [*lines, layout.line(3)]), plan)
    assert result.rated.height == 1
    assert by_line(result) == {layout.first: "bad_time", layout.first + 1: "bad_time"}


@layouts
@pytest.mark.parametrize("value", ["1e309", "-5", "NaN", "inf"])
def test_durations_that_are_not_seconds(
    layout: Layout, tmp_path: Path, plan: RatingPlan, value: str
) -> None:
    lines = [layout.line(1, duration=_duration(layout, value)), layout.line(2)]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert result.rated.height == 1
    assert by_line(result) == {layout.first: "bad_duration"}


@pytest.mark.parametrize("layout", [lay for lay in LAYOUTS if lay.total is not None], ids=str)
def test_billsec_greater_than_duration(layout: Layout, tmp_path: Path, plan: RatingPlan) -> None:
    lines = [layout.line(1, duration="70", total="65"), layout.line(2)]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert by_line(result) == {1: "bad_duration"}
    assert result.rejects.item(0, "message") == "billsec 70 is greater than duration 65"


@layouts
def test_invalid_utf8_is_replaced_not_fatal(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    path = layout.file(tmp_path, [layout.line(1), layout.line(2, callee="0049<FF>30")])
    path.write_bytes(path.read_bytes().replace(b"<FF>", b"\xff"))
    result = run(layout, path, plan)
    assert result.rated.height == 1
    assert by_line(result) == {layout.first + 1: "bad_number"}
    assert "\ufffd" in result.rejects.item(0, "raw")


@layouts
def test_crlf_bom_blank_lines_and_carriage_returns(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    lines = [layout.line(1), "", "   ", layout.line(2, callee="0049301\r23"), layout.line(3)]
    path = layout.file(tmp_path, lines, ending="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = run(layout, path, plan)
    # Blank lines are not rows; line numbers stay physical.
    assert result.read == 3
    assert result.rated.get_column("line").to_list() == [layout.first, layout.first + 4]
    assert by_line(result) == {layout.first + 3: "bad_number"}


def _at(layout: Layout, date_time: str) -> str:
    """The layout's start field moved to ``date_time`` (``YYYY-MM-DD HH:MM:SS``)."""
    date, time = date_time.rsplit(" ", 1)
    return layout.fields[layout.start].replace("2026-10-01", date).replace("09:00:05", time)


@layouts
def test_cr_only_line_endings_are_line_breaks(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    lines = [layout.line(1), layout.line(2, callee="x"), "", layout.line(3)]
    result = run(layout, layout.file(tmp_path, lines, ending="\r"), plan)
    assert result.read == 3
    assert result.rated.get_column("line").to_list() == [layout.first, layout.first + 3]
    assert by_line(result) == {layout.first + 1: "bad_number"}
    assert result.rejects.item(0, "raw") == layout.line(2, callee="x")


@layouts
def test_a_line_over_1_mib_is_one_parse_error(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    long = layout.line(2, callee="9" * (3 << 20))
    result = run(layout, layout.file(tmp_path, [layout.line(1), long, layout.line(3)]), plan)
    assert result.rated.get_column("line").to_list() == [layout.first, layout.first + 2]
    assert by_line(result) == {layout.first + 1: "parse_error"}
    message, raw = result.rejects.row(0, named=True)["message"], result.rejects.item(0, "raw")
    assert message.startswith(f"the line is {len(long)} bytes long, over the limit")
    assert long.startswith(raw)
    assert len(raw) == 200


@layouts
def test_starts_outside_1970_to_2100_are_bad_time(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    # Not 0001-01-01 00:00:00: CGRateS writes Go's zero time for "no answer time".
    outside = ["0001-01-02 00:00:00", "9999-12-31 23:59:59", "-0001-10-01 09:00:05"]
    outside += ["1969-12-31 23:59:59", "2101-01-01 00:00:00"]
    inside = ["1970-01-01 00:00:00", "2100-12-31 23:59:59"]
    lines = [layout.line(i, start=_at(layout, when)) for i, when in enumerate(outside + inside)]
    result = run(layout, layout.file(tmp_path, lines), plan)
    first = layout.first
    assert by_line(result) == {first + i: "bad_time" for i in range(len(outside))}
    assert result.rejects.get_column("message").str.contains("in the years 1970 to 2100").all()
    assert result.rated.get_column("start").dt.year().to_list() == [1970, 2100]


@layouts
def test_calls_longer_than_a_day_are_bad_duration(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    def lasting(row: int, seconds: str) -> str:
        total = {"total": seconds} if layout.total is not None else {}
        return layout.line(row, duration=_duration(layout, seconds), **total)

    lines = [lasting(1, "86400"), lasting(2, "86401"), lasting(3, "31536000")]
    result = run(layout, layout.file(tmp_path, lines), plan)
    assert result.rated.get_column("duration_s").cast(int).to_list() == [86400]
    assert by_line(result) == {layout.first + 1: "bad_duration", layout.first + 2: "bad_duration"}
    assert result.rejects.item(1, "message").startswith(
        "duration 31536000 s is longer than the longest call accepted ([input] max_duration_s"
    )
    shorter = rate(
        [layout.file(tmp_path, lines)], plan, layout.fmt, InputOptions(max_duration_s=60)
    )
    assert shorter.rated.height == 0


@pytest.mark.parametrize("layout", [lay for lay in LAYOUTS if lay.header], ids=str)
def test_a_header_naming_a_column_twice_is_an_input_error(
    layout: Layout, tmp_path: Path, plan: RatingPlan
) -> None:
    assert layout.header is not None
    first = layout.header.split(",")[1]
    path = layout.file(tmp_path, [layout.line(1)])
    path.write_text(path.read_text().replace(layout.header, f"{layout.header},{first.upper()}"))
    with pytest.raises(
        InputError, match=rf"\.csv: line 1: the header names column '{first.upper()}' twice"
    ):
        run(layout, path, plan)
