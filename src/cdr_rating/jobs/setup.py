"""What every job loads first: sheets, accounts and fees into a rating plan and billing
rules, with the sha256 of every file it read (for manifests and invoices).

The one place that turns configuration into a plan: the nightly run, closing a period,
previews, re-rating and ``rate --sheets --accounts`` all come through here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from cdr_rating.accounts import load_accounts, load_sheets
from cdr_rating.billing.document import Party
from cdr_rating.billing.fees import load_fees
from cdr_rating.billing.period import BillingRules
from cdr_rating.cdrs import InputOptions, NumberRules
from cdr_rating.config import Settings
from cdr_rating.errors import ConfigError
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import RateSheet
from cdr_rating.store import file_sha256


@dataclass(frozen=True)
class LoadedPlan:
    """Sheets and accounts as loaded, the plan compiled from them, and the files read."""

    sheets: list[RateSheet]
    accounts: pl.DataFrame | None
    plan: RatingPlan
    sheet_files: list[dict[str, Any]]

    def sheet_references(self) -> list[dict[str, Any]]:
        """``path`` and ``sha256`` of each sheet file: what an invoice was billed with."""
        return [{"path": ref["path"], "sha256": ref["sha256"]} for ref in self.sheet_files]


@dataclass(frozen=True)
class BillingSetup:
    """What billing a period needs besides the calls: compiled once per command."""

    rules: BillingRules
    plan: RatingPlan
    references: list[dict[str, Any]]


def file_reference(path: Path) -> dict[str, Any]:
    """``path``, ``sha256`` and ``size`` of a file a job read."""
    return {"path": str(path), "sha256": file_sha256(path), "size": path.stat().st_size}


def plan_from_files(
    sheets_dir: Path, accounts: Path | None, numbers: NumberRules | None = None
) -> LoadedPlan:
    """Load every sheet of ``sheets_dir`` and the accounts file, and compile the plan."""
    sheets = load_sheets(sheets_dir)
    table = None if accounts is None else load_accounts(accounts, sheets, numbers)
    files = [
        file_reference(path) for sheet in sheets for path in sorted({sheet.path, sheet.rates_path})
    ]
    return LoadedPlan(sheets, table, RatingPlan.from_sheets(sheets, accounts=table), files)


def load_plan(settings: Settings, sheets_dir: Path | None = None) -> LoadedPlan:
    """The configured plan (with the sheets of ``sheets_dir`` instead, if given)."""
    paths = settings.paths
    return plan_from_files(
        sheets_dir or paths.sheets, paths.accounts, settings.input.number_rules()
    )


def input_options(settings: Settings) -> InputOptions:
    """How the configured inbox's CDR text is read."""
    return settings.input.options()


def billing_setup(settings: Settings, period: str, sheets_dir: Path | None = None) -> BillingSetup:
    """Sheets (from ``sheets_dir`` if given), accounts and fees named by the configuration."""
    if settings.paths.accounts is None:
        raise ConfigError(
            f"{settings.source}: key 'paths.accounts': invoicing needs an accounts file"
        )
    return setup_from(settings, period, load_plan(settings, sheets_dir))


def setup_from(settings: Settings, period: str, loaded: LoadedPlan) -> BillingSetup:
    """The billing setup of a plan already loaded (by the run that closes), plus the
    configured fees."""
    if loaded.accounts is None:
        raise ConfigError(
            f"{settings.source}: key 'paths.accounts': invoicing needs an accounts file"
        )
    fees_path = settings.paths.fees
    fees = None
    if fees_path is not None:
        if not fees_path.is_file():
            raise ConfigError(f"{fees_path}: fees file not found (key 'paths.fees')")
        fees = load_fees(fees_path, loaded.accounts)
    rules = BillingRules(
        period=period,
        timezone=settings.billing.timezone,
        sheets=list(loaded.plan.sheets),
        accounts=loaded.accounts,
        fees=fees,
        currency_decimals=settings.billing.currency_decimals,
    )
    return BillingSetup(rules, loaded.plan, loaded.sheet_references())


def issuer(settings: Settings) -> Party:
    """The issuer block of every invoice, note and report."""
    given = settings.billing.issuer
    return Party(name=given.name, address=given.address, email=given.email, vat_id=given.vat_id)


def today_in(settings: Settings) -> dt.date:
    """Today in the billing timezone: the issue date of what is issued now."""
    return dt.datetime.now(ZoneInfo(settings.billing.timezone)).date()


def now() -> str:
    """Now, UTC, to the second: when something was recorded."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
