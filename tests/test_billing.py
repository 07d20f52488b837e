"""Period rules (ARCHITECTURE.md 5.4 and 10): allowances, fees, commitments, taxes, lines."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from billingworld import ACCOUNTS_HEADER, World, billed, flat_sheet
from cdr_rating.errors import ConfigError

ACME = "ACME,Acme GmbH,flat,2026-01-01,0.19,+493011111,a@acme.example,Berlin,true"


def call(call_id: str, start: str, duration: int, account: str = "ACME") -> str:
    return f"{call_id},{account},+493011111,+4930222222,{start},{duration},ANSWERED"


def test_partial_allowance_prices_the_rest_of_the_call(tmp_path: Path) -> None:
    """60 s of allowance left and a 120 s call at 0.6/min: it costs 0.6."""
    world = World(tmp_path, [flat_sheet(allowance_s=120)], [ACME])
    period = world.bill(
        [call("first", "2026-10-05T09:00:00Z", 60), call("second", "2026-10-05T10:00:00Z", 120)]
    )
    assert billed(period) == {"first": "0.0000", "second": "0.6000"}
    lines = {line.kind: line for line in period.bills[0].lines}
    assert lines["allowance"].amount == Decimal("-1.2")  # 120 s at 0.6/min
    assert lines["allowance"].quantity == "2.00"
    assert lines["usage"].amount == Decimal("1.8")  # before the allowance


def test_allowance_goes_to_the_chronologically_first_call(tmp_path: Path) -> None:
    """Two 2-minute calls, 60 s of allowance: 0.6 and 1.2, whatever the input order."""
    world = World(tmp_path, [flat_sheet(allowance_s=60)], [ACME])
    period = world.bill(
        [call("later", "2026-10-20T09:00:00Z", 120), call("earlier", "2026-10-02T09:00:00Z", 120)]
    )
    assert billed(period) == {"later": "1.2000", "earlier": "0.6000"}


def test_allowance_keeps_connect_fee_and_later_tier_rates(tmp_path: Path) -> None:
    """Covered seconds are the first of the call; the rest keeps its tier's rate; the
    connect fee is still due."""
    from sheetfactory import SheetSpec, row

    sheet = SheetSpec(
        rows=[
            row("49", "1.2", unit_s=60, increment_s=1, from_s=0, connect_fee="0.1"),
            row("49", "0.6", unit_s=60, increment_s=1, from_s=60),
        ],
        sheet_id="flat",
        allowances=[("national", 60, ["49"])],
    )
    world = World(tmp_path, [sheet], [ACME])
    period = world.bill([call("c1", "2026-10-05T09:00:00Z", 120)])
    assert billed(period) == {"c1": "0.7000"}  # 0.1 + 60 s at 0.6/min


def test_allowance_is_per_account_and_skips_free_calls(tmp_path: Path) -> None:
    beta = "BETA,Beta KG,flat,2026-01-01,0.19,+494011111,b@beta.example,Hamburg,true"
    world = World(tmp_path, [flat_sheet(allowance_s=60)], [ACME, beta])
    period = world.bill(
        [
            call("a1", "2026-10-05T09:00:00Z", 60),
            "b1,BETA,+494011111,+4930222222,2026-10-05T08:00:00Z,60,ANSWERED",
            "b0,BETA,+494011111,+4930222222,2026-10-05T07:00:00Z,60,NO ANSWER",
        ]
    )
    assert billed(period) == {"a1": "0.0000", "b1": "0.0000", "b0": "0.0000"}
    allowance = period.calls.filter(pl.col("call_id") == "b0").get_column("allowance_s")
    assert allowance.item() == 0


def test_usage_lines_add_up_to_the_rated_charges(tmp_path: Path) -> None:
    """Sum of usage lines = sum of the period's rated charges, always."""
    world = World(tmp_path, [flat_sheet(allowance_s=100)], [ACME])
    calls = [
        call(f"c{i}", f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:13:00Z", 7 * i) for i in range(60)
    ]
    period = world.bill(calls)
    usage = sum(line.amount for line in period.bills[0].lines if line.kind == "usage")
    assert usage == period.calls.get_column("charge").sum()
    net = usage + sum(line.amount for line in period.bills[0].lines if line.kind == "allowance")
    assert net == period.calls.get_column("billed").sum()


def test_monthly_fees_are_prorated_by_day_when_asked(tmp_path: Path) -> None:
    fees = [
        "ACME,TRUNK,SIP trunk,31.00,monthly,2026-01-01,,true,",
        "ACME,SEAT,Seat from the 10th,31.00,monthly,2026-10-10,,true,true",
        "ACME,SEAT2,Seat from the 10th (not prorated),31.00,monthly,2026-10-10,,true,false",
        "ACME,DID,Numbers until the 20th,10.00,monthly,2026-01-01,2026-10-20,true,true",
        "ACME,OLD,Ended in September,5.00,monthly,2026-01-01,2026-09-30,true,true",
        "ACME,LATER,Starts in November,5.00,monthly,2026-11-01,,true,true",
        "ACME,SETUP,Setup,49.00,once,2026-10-15,,false,",
        "ACME,SETUP0,September setup,49.00,once,2026-09-15,,true,",
    ]
    world = World(tmp_path, [flat_sheet()], [ACME], fees)
    period = world.bill([call("c1", "2026-10-05T09:00:00Z", 60)])
    found = {line.description: line for line in period.bills[0].lines if line.kind == "fee"}
    assert {name: line.amount for name, line in found.items()} == {
        "SIP trunk": Decimal("31.00"),
        "Seat from the 10th": Decimal("22.00"),  # 22 of 31 days
        "Seat from the 10th (not prorated)": Decimal("31.00"),
        "Numbers until the 20th": Decimal("6.45"),  # 10 * 20/31 = 6.4516 -> 6.45
        "Setup": Decimal("49.00"),
    }
    assert found["Seat from the 10th"].quantity == "22/31"
    assert found["Setup"].tax_rate is None  # not taxable


def test_tax_is_rounded_once_per_rate_on_the_invoice(tmp_path: Path) -> None:
    """Three 0.03 lines at 19 %: 0.0171 rounds to 0.02 (per line it would be 0.03)."""
    fees = [f"ACME,F{i},Fee {i},0.03,monthly,2026-01-01,,true," for i in range(3)]
    world = World(tmp_path, [flat_sheet()], [ACME], fees)
    period = world.bill([])
    bill = period.bills[0]
    assert [(t.rate, t.base, t.amount) for t in bill.taxes] == [
        (Decimal("0.19"), Decimal("0.09"), Decimal("0.02"))
    ]
    assert bill.total == Decimal("0.11")


def test_a_tax_rate_change_mid_period_gives_two_tax_rows(tmp_path: Path) -> None:
    later = "ACME,Acme GmbH,flat,2026-10-16,0.07,+493011111,a@acme.example,Berlin,true"
    world = World(tmp_path, [flat_sheet()], [ACME, later])
    period = world.bill(
        [call("c1", "2026-10-05T09:00:00Z", 600), call("c2", "2026-10-20T09:00:00Z", 300)]
    )
    bill = period.bills[0]
    assert [(t.rate, t.base, t.amount) for t in bill.taxes] == [
        (Decimal("0.19"), Decimal("6.0"), Decimal("1.14")),
        (Decimal("0.07"), Decimal("3.0"), Decimal("0.21")),
    ]
    assert bill.subtotal == Decimal("9.0")
    assert bill.total == Decimal("10.35")


def test_minimum_commitment_tops_up_usage(tmp_path: Path) -> None:
    low = "LOW,Low Use AG,flat,2026-01-01,0.19,+493033333,l@low.example,Berlin,false,10.00"
    high = "HIGH,High Use AG,flat,2026-01-01,0.19,+493044444,h@high.example,Berlin,false,1.00"
    header = ACCOUNTS_HEADER + ",minimum_commitment"
    world = World(tmp_path, [flat_sheet()], [low, high], accounts_header=header)
    period = world.bill(
        [
            call("l1", "2026-10-05T09:00:00Z", 60, "LOW"),
            call("h1", "2026-10-05T09:00:00Z", 600, "HIGH"),
        ]
    )
    low_bill, high_bill = period.bill_of("LOW"), period.bill_of("HIGH")
    assert low_bill is not None
    assert high_bill is not None
    top_up = [line for line in low_bill.lines if line.kind == "commitment"]
    assert [line.amount for line in top_up] == [Decimal("9.4")]  # 10.00 - 0.60
    assert low_bill.subtotal == Decimal("10.00")
    assert not [line for line in high_bill.lines if line.kind == "commitment"]


def test_fees_file_problems_name_line_and_column(tmp_path: Path) -> None:
    fees = [
        "ACME,TRUNK,SIP trunk,abc,monthly,2026-01-01,,true,",
        "NOBODY,X,Unknown account,1.00,monthly,2026-01-01,,true,",
        "ACME,Y,Bad kind,1.00,yearly,2026-13-01,,maybe,",
    ]
    world = World(tmp_path, [flat_sheet()], [ACME], fees)
    with pytest.raises(ConfigError) as caught:
        world.bill([])
    problems = caught.value.problems
    assert any("fees.csv:2: column 'amount': 'abc' is not an amount" in p for p in problems)
    assert any(
        "fees.csv:3: column 'account': 'NOBODY' is not in the accounts" in p for p in problems
    )
    assert any("fees.csv:4: column 'kind': 'yearly'" in p for p in problems)
    assert any("fees.csv:4: column 'date': '2026-13-01'" in p for p in problems)
    assert any("fees.csv:4: column 'taxable': 'maybe'" in p for p in problems)


def test_minutes_are_the_same_in_python_and_in_polars() -> None:
    from cdr_rating.billing.period import minutes, minutes_text

    seconds = [*range(-200, 4000), 123_456_789]
    shown = pl.select(minutes_text(pl.Series(seconds))).to_series().to_list()
    assert shown == [minutes(value) for value in seconds]


def test_summary_bills_have_the_totals_of_detailed_ones(tmp_path: Path) -> None:
    """Re-rating compares totals from summary bills: they must equal the detailed ones."""
    from cdr_rating.billing.period import bill_period

    later = "ACME,Acme GmbH,flat,2026-10-16,0.07,+493011111,a@acme.example,Berlin,true"
    fees = [
        "ACME,F,Fee,0.05,monthly,2026-01-01,,true,",
        "ACME,G,Untaxed,1.00,once,2026-10-02,,false,",
    ]
    world = World(tmp_path, [flat_sheet(allowance_s=90)], [ACME, later], fees)
    calls = [
        call(f"c{i}", f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:13:00Z", 11 * i) for i in range(40)
    ]
    detailed = world.bill(calls)
    rules, plan = world.last_rules, world.last_plan
    summary = bill_period(detailed.calls.drop("allowance", "allowance_s", "billed", "tax_rate"),
                          rules, plan, detail=False)  # fmt: skip
    for bill in detailed.bills:
        short = summary.bill_of(bill.account)
        assert short is not None
        assert (short.subtotal, short.taxes, short.total) == (bill.subtotal, bill.taxes, bill.total)
        assert len(short.lines) < len(bill.lines)
