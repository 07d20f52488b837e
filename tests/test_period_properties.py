"""The vectorised period stages against the scalar reference (tests/period_reference.py):
allowances, the tax rate in force at each call, and usage lines, over random months."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdr_rating.billing import period
from cdr_rating.billing.allowances import take_allowances
from cdr_rating.sheets.model import Allowance
from cdr_rating.store.calls import MONEY
from period_reference import AllowanceRule, Call, allowances_taken, tax_rate_at, usage_lines

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
PREFIXES = ("49", "491", "4915", "43", "1", "")
ACCOUNTS = ("A", "B", "C")
SHEETS = ("s1", "s2")


@st.composite
def months(draw: st.DrawFn) -> list[Call]:
    """Up to 40 calls of three accounts on two sheets, with ties in start time, calls
    that cost nothing, and destinations with and without a name."""
    count = draw(st.integers(0, 40))
    calls = []
    for number in range(count):
        prefix = draw(st.sampled_from(PREFIXES[:-1]))
        calls.append(
            Call(
                call_id=f"c{draw(st.integers(0, 10**6)):07d}-{number}",
                account=draw(st.sampled_from(ACCOUNTS)),
                sheet=draw(st.sampled_from(SHEETS)),
                prefix=prefix,
                destination=draw(st.sampled_from(("", f"Dest {prefix}", "Zone"))),
                band=draw(st.sampled_from(("peak", "offpeak", ""))),
                start=START + dt.timedelta(minutes=draw(st.integers(0, 30))),
                billable_s=draw(st.integers(0, 400)),
                charge=Decimal(draw(st.integers(0, 50_000))).scaleb(-4),
            )
        )
    return calls


rule_lists = st.lists(
    st.builds(
        AllowanceRule,
        sheet=st.sampled_from(SHEETS),
        name=st.sampled_from(("free", "national", "mobile")),
        seconds=st.integers(1, 900),
        prefixes=st.lists(st.sampled_from(PREFIXES[:-1]), max_size=2).map(tuple),
    ),
    max_size=4,
)


def frame(calls: list[Call]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (
                c.call_id,
                c.account,
                c.sheet,
                c.prefix,
                c.destination,
                c.band,
                c.start,
                c.billable_s,
                c.charge,
            )
            for c in calls
        ],
        schema={
            "call_id": pl.String,
            "account": pl.String,
            "sheet": pl.String,
            "prefix": pl.String,
            "destination": pl.String,
            "band": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "billable_s": pl.Int64,
            "charge": MONEY,
        },
        orient="row",
    )


def sheets_of(rules: list[AllowanceRule]) -> list[SimpleNamespace]:
    """Stand-ins for rate sheets: an id and its allowances, in order."""
    return [
        SimpleNamespace(
            id=sheet,
            settings=SimpleNamespace(
                allowances=[
                    Allowance(name=rule.name, seconds=rule.seconds, prefixes=list(rule.prefixes))
                    for rule in rules
                    if rule.sheet == sheet
                ]
            ),
        )
        for sheet in SHEETS
    ]


@settings(max_examples=150, deadline=None)
@given(calls=months(), rules=rule_lists)
def test_allowances_are_taken_as_the_reference_takes_them(
    calls: list[Call], rules: list[AllowanceRule]
) -> None:
    taken = take_allowances(frame(calls), sheets_of(rules))  # type: ignore[arg-type]
    found = {
        call_id: (name, seconds)
        for call_id, name, seconds in taken.select("call_id", "allowance", "allowance_s").rows()
    }
    assert found == allowances_taken(calls, rules)
    assert taken.get_column("call_id").to_list() == [call.call_id for call in calls]


version_lists = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        # before the period, at its start, and during it
        st.sampled_from((-(2**62), 0, 600, 1200)).map(
            lambda offset: offset if offset < 0 else int(START.timestamp()) + offset
        ),
        st.sampled_from(("0.19", "0.07", "0.20")),
    ),
    max_size=6,
    unique_by=lambda version: (version[0], version[1]),
)


@settings(max_examples=150, deadline=None)
@given(calls=months(), versions=version_lists)
def test_the_tax_rate_is_the_one_in_force_at_the_start(
    calls: list[Call], versions: list[tuple[str, int, str]]
) -> None:
    table = pl.DataFrame(
        versions,
        schema={"account": pl.String, "effective_from": pl.Int64, "tax_rate": pl.String},
        orient="row",
    )
    found = period.with_tax_rate(frame(calls), table, START)
    assert found.get_column("call_id").to_list() == [call.call_id for call in calls]
    assert found.get_column("tax_rate").to_list() == [
        tax_rate_at(versions, call.account, call.start) for call in calls
    ]


@settings(max_examples=150, deadline=None)
@given(calls=months(), rates=st.lists(st.sampled_from(("0.19", "0.07", None)), min_size=40))
def test_usage_lines_are_the_reference_lines(calls: list[Call], rates: list[str | None]) -> None:
    tax_rates = {call.call_id: rates[i] for i, call in enumerate(calls)}
    calls_frame = frame(calls).with_columns(
        tax_rate=pl.Series([tax_rates[call.call_id] for call in calls], dtype=pl.String)
    )
    found = period.usage_lines(calls_frame).select(
        "account", "description", "detail", "tax_rate", "calls", "seconds", "amount"
    )
    assert found.rows() == usage_lines(calls, tax_rates)


@pytest.mark.parametrize("limit", [2**62, 4])
def test_sorted_groups_is_group_by_then_sort(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """Packed into one integer, or (above the limit) grouped on the keys themselves."""
    monkeypatch.setattr(period, "PACKED_LIMIT", limit)
    values = pl.DataFrame(
        {
            "a": ["x", "y", None, "x", "z", "y", "x"],
            "b": ["2", "1", "1", "2", None, "1", "0"],
            "n": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    found = period.sorted_groups(values, ("a", "b"), n=pl.col("n").sum(), calls=pl.len())
    expected = values.group_by("a", "b").agg(n=pl.col("n").sum(), calls=pl.len()).sort("a", "b")
    assert found.rows() == expected.rows()
    assert found.columns == ["a", "b", "n", "calls"]
