"""The closed sets of names that commands offer (contracts), importable without Polars,
so that the command line can describe its options before it loads the library."""

from __future__ import annotations

from enum import StrEnum

# CDR input formats (``--format``; ``auto`` detects, ``mapped`` needs ``--map``).
FORMATS = ("auto", "canonical", "asterisk", "freeswitch", "cgrates", "mapped")


class RoundingMethod(StrEnum):
    """How a charge is rounded to the sheet's decimals (a contract)."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    UP = "up"
    DOWN = "down"


class Preset(StrEnum):
    """The deck formats ``cdr-rating sheet import`` reads."""

    ASTPP = "astpp"
    A2BILLING = "a2billing"
    CGRATES = "cgrates"
    PREFIX_RATE = "prefix-rate"


class IncludedSeconds(StrEnum):
    """How ASTPP's Included Seconds (Grace Time) are imported."""

    FREE = "free"  # free seconds at the start of every call, as ASTPP bills them
    GRACE = "grace"  # the sheet's grace_s: calls up to that long are free, longer ones are not
