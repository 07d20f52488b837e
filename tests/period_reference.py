"""Scalar reference for the period stages: allowances, tax rates and usage lines.

One call at a time, in plain Python, written from ARCHITECTURE.md 5.4 and docs/rating.md
("Allowances") rather than from ``billing/``, so that the vectorised stages can be
checked against something short enough to verify line by line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Call:
    call_id: str
    account: str
    sheet: str
    prefix: str
    destination: str
    band: str
    start: datetime
    billable_s: int
    charge: Decimal


@dataclass(frozen=True)
class AllowanceRule:
    sheet: str
    name: str
    seconds: int
    prefixes: tuple[str, ...]  # empty: every call of the sheet


def allowances_taken(
    calls: list[Call], rules: list[AllowanceRule]
) -> dict[str, tuple[str | None, int]]:
    """Per call id: the allowance covering it (or None) and the seconds it covers.

    A call is covered by the first allowance of its sheet (in the sheet's order) that
    has a prefix its matched prefix starts with; a call that costs nothing takes none.
    Each account has a pool per sheet and allowance, taken in order of start, then call
    id, each call taking as many of its billable seconds as are left.
    """
    left: dict[tuple[str, str, int], int] = {}
    taken: dict[str, tuple[str | None, int]] = {call.call_id: (None, 0) for call in calls}
    for call in sorted(calls, key=lambda call: (call.start, call.call_id)):
        if call.billable_s <= 0 or call.charge <= 0:
            continue
        for order, rule in enumerate(rule for rule in rules if rule.sheet == call.sheet):
            if not rule.prefixes or any(call.prefix.startswith(p) for p in rule.prefixes):
                pool = (call.account, call.sheet, order)
                remaining = left.setdefault(pool, rule.seconds)
                covered = min(remaining, call.billable_s)
                left[pool] = remaining - covered
                if covered:
                    taken[call.call_id] = (rule.name, covered)
                break
    return taken


def tax_rate_at(versions: list[tuple[str, int, str]], account: str, at: datetime) -> str | None:
    """The tax rate of the latest plan version (``account``, ``effective_from`` epoch
    seconds, ``tax_rate``) of ``account`` that began at or before ``at``."""
    began = [
        (effective, rate)
        for name, effective, rate in versions
        if name == account and effective <= at.timestamp()
    ]
    return max(began)[1] if began else None


def usage_lines(
    calls: list[Call], tax_rates: dict[str, str | None]
) -> list[tuple[str, str, str, str | None, int, int, Decimal]]:
    """Usage lines sorted by account, destination, band and tax rate: ``(account,
    destination, band, tax_rate, calls, seconds, amount)``. A call without a destination
    name is shown as ``+prefix``; calls with no seconds and no charge are not shown."""
    lines: dict[tuple[str, str, str, str | None], list[int | Decimal]] = defaultdict(
        lambda: [0, 0, Decimal(0)]
    )
    for call in calls:
        if call.billable_s <= 0 and call.charge == 0:
            continue
        key = (call.account, call.destination or f"+{call.prefix}", call.band,
               tax_rates[call.call_id])  # fmt: skip
        line = lines[key]
        line[0] += 1
        line[1] += call.billable_s
        line[2] += call.charge

    def order(key: tuple[str, str, str, str | None]) -> tuple[object, ...]:
        # Polars sorts nulls first.
        return (*key[:3], key[3] is not None, key[3] or "")

    return [(*key, *lines[key]) for key in sorted(lines, key=order)]  # type: ignore[misc]
