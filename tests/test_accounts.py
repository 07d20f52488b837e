"""Accounts choose the sheet in force at each call's start; callers identify accounts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cdr_rating.accounts import load_accounts, load_sheets
from cdr_rating.errors import ConfigError
from cdr_rating.pipeline import rate_files
from cdr_rating.rating import RatingPlan


def write_sheets(tmp_path: Path) -> Path:
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    for sheet_id, currency, rate in (
        ("basic", "EUR", "0.6"),
        ("cheap", "EUR", "0.3"),
        ("usd", "USD", "1"),
    ):
        (sheets / f"{sheet_id}.csv").write_text(f"prefix,rate\n49,{rate}\n")
        (sheets / f"{sheet_id}.toml").write_text(
            f'id = "{sheet_id}"\ncurrency = "{currency}"\ntimezone = "Europe/Berlin"\n'
            f'rates = "{sheet_id}.csv"\n[rounding]\ndecimals = 2\n'
        )
    return sheets


def plan_for(tmp_path: Path, accounts: str) -> RatingPlan:
    sheets = load_sheets(write_sheets(tmp_path))
    path = tmp_path / "accounts.csv"
    path.write_text(accounts)
    return RatingPlan.from_sheets(sheets, accounts=load_accounts(path, sheets))


CDRS = (
    "call_id,account,caller,callee,start,duration\n"
    "before,ACME,+49301,4930,2026-10-14T21:59:59Z,60\n"
    "after,ACME,+49301,4930,2026-10-14T22:00:00Z,60\n"
    "by-number,,0049 30 2,4930,2026-10-01T12:00:00Z,60\n"
    "stranger,,+1999,4930,2026-10-01T12:00:00Z,60\n"
    "unknown,NOPE,+49301,4930,2026-10-01T12:00:00Z,60\n"
    "too-early,LATE,+49301,4930,2026-10-01T12:00:00Z,60\n"
)


def test_plan_change_and_attribution_by_caller(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        "account,name,sheet,effective_from,numbers\n"
        "ACME,Acme,basic,,+49 30 1\n"
        "ACME,Acme,cheap,2026-10-15,+49 30 1\n"
        "BETA,Beta,basic,,+49302 +49303\n"
        "LATE,Late,basic,2026-11-01,\n",
    )
    cdrs = tmp_path / "cdrs.csv"
    cdrs.write_text(CDRS)
    result = rate_files([cdrs], plan)
    rated = {
        row[0]: row[1:]
        for row in result.rated.select("call_id", "account", "sheet", "charge").rows()
    }
    # 2026-10-15 00:00 in Berlin is 2026-10-14 22:00 UTC.
    assert rated == {
        "before": ("ACME", "basic", Decimal("0.60")),
        "after": ("ACME", "cheap", Decimal("0.30")),
        "by-number": ("BETA", "basic", Decimal("0.60")),
    }
    reasons = dict(result.rejects.select("call_id", "reason").rows())
    assert reasons == {
        "stranger": "unknown_account",
        "unknown": "unknown_account",
        "too-early": "unknown_account",
    }
    assert result.reconciles()


def test_unknown_sheet_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_for(tmp_path, "account,sheet\nACME,premium\n")
    assert "accounts.csv:2: column 'sheet': no sheet with id 'premium'" in caught.value.problems[0]


def test_account_changing_currency_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_for(
            tmp_path,
            "account,sheet,effective_from\nACME,basic,\nACME,usd,2026-11-01\n",
        )
    assert "different currencies (EUR, USD)" in caught.value.problems[0]


def test_declared_currency_must_match_the_sheet(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_for(tmp_path, "account,sheet,currency\nACME,basic,USD\n")
    assert "accounts.csv:2: column 'currency'" in caught.value.problems[0]


def test_number_owned_by_two_accounts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_for(tmp_path, "account,sheet,numbers\nA,basic,+4930 1\nB,basic,004930\n")
    assert "number 4930 belongs to several accounts (A, B)" in caught.value.problems[0]


def test_bad_tax_rate_and_itemised(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_for(tmp_path, "account,sheet,tax_rate,itemised\nA,basic,19%,maybe\n")
    assert [p.split(": ")[1] for p in caught.value.problems] == [
        "column 'tax_rate'",
        "column 'itemised'",
    ]
