"""A ``RatingPlan``: sheets (and accounts) compiled into the arrays the engine searches.

Compiling does, once per sheet set, everything that does not depend on a call:

- ``segments``: the prefix intervals of every sheet, flattened (see ``prefixes``);
- ``resolution``: for every (prefix node, band) the timeline of the rate that wins
  there, already applying effective dating, "band-specific beats all-bands" and the
  fallback to shorter prefixes; keyed by ``(node * max_bands + band) << 35 | time``
  so that one sorted search per call finds the rate in force at its start;
- ``tiers``: every rate's tiers as flat arrays indexed ``rate * max_tiers + tier``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from cdr_rating.errors import UsageError
from cdr_rating.rating.bands import BandCalendar
from cdr_rating.rating.prefixes import prefix_segments
from cdr_rating.sheets.model import RateSheet

TIME_BITS = 35
TIME_OFFSET = 1 << 34  # epoch seconds shifted to stay positive: 1425 to 2514
NEVER = 1 << 40  # a tier start after any call: pads rates with fewer tiers
MAX_COMMON_UNIT = 10**7


@dataclass(frozen=True)
class RatingPlan:
    """Everything the engine needs to rate calls against a set of sheets."""

    sheets: tuple[RateSheet, ...]
    calendar: BandCalendar
    segments: pl.DataFrame
    resolution: pl.DataFrame
    rates: pl.DataFrame
    tiers: pl.DataFrame
    max_tiers: int
    common_unit: int
    sheet_table: pl.DataFrame
    accounts: pl.DataFrame | None = None
    numbers: pl.DataFrame | None = None

    @classmethod
    def from_sheets(
        cls,
        sheets: list[RateSheet],
        accounts: pl.DataFrame | None = None,
    ) -> RatingPlan:
        """Compile ``sheets``; with ``accounts`` calls are rated with their account's sheet.

        ``accounts`` has ``account``, ``sheet`` (a sheet id), ``effective_from`` (epoch
        seconds, null = always) and ``numbers`` (list of caller numbers); see
        ``cdr_rating.accounts``. Without it there must be one sheet, used for every call.
        """
        if not sheets:
            raise UsageError("no rate sheet given; pass --sheet FILE or --sheets DIR")
        ids = [sheet.id for sheet in sheets]
        duplicated = sorted({sheet_id for sheet_id in ids if ids.count(sheet_id) > 1})
        if duplicated:
            raise UsageError(f"sheet id {duplicated[0]!r} is used by more than one sheet file")
        if accounts is None and len(sheets) > 1:
            raise UsageError("several sheets need an accounts file to choose between them")

        calendar = BandCalendar.build(sheets)
        rows = pl.concat(
            [
                sheet.rows.with_columns(sheet_index=pl.lit(i, pl.Int32))
                for i, sheet in enumerate(sheets)
            ]
        )
        rates, tiers, max_tiers = _rates_and_tiers(rows, sheets)
        nodes = (
            rows.select("sheet_index", "prefix")
            .unique()
            .sort("sheet_index", "prefix")
            .with_row_index("node")
            .with_columns(pl.col("node").cast(pl.Int32))
        )
        units = rows.get_column("unit_s").unique().to_list()
        common_unit = math.lcm(*units)
        if common_unit > MAX_COMMON_UNIT:
            raise UsageError(
                f"the units of the sheets ({sorted(units)}) have no common multiple under "
                f"{MAX_COMMON_UNIT}; use units such as 1, 60 and 3600"
            )
        return cls(
            sheets=tuple(sheets),
            calendar=calendar,
            segments=prefix_segments(nodes),
            resolution=_resolution(nodes, rates, sheets, calendar.max_bands),
            rates=rates,
            tiers=tiers,
            max_tiers=max_tiers,
            common_unit=common_unit,
            sheet_table=_sheet_table(sheets),
            **_account_tables(accounts, sheets),
        )

    @property
    def split_sheets(self) -> list[int]:
        return [i for i, sheet in enumerate(self.sheets) if sheet.settings.band_mode == "split"]

    def sheet_index(self, sheet_id: str) -> int:
        return [sheet.id for sheet in self.sheets].index(sheet_id)

    def currency_decimals(self) -> dict[str, int]:
        """The most decimals any sheet of each currency rounds charges to: how totals of
        rated charges are shown."""
        table = self.sheet_table.group_by("currency").agg(pl.col("decimals").max())
        return {str(currency): int(decimals) for currency, decimals in table.iter_rows()}


def _rates_and_tiers(
    rows: pl.DataFrame, sheets: list[RateSheet]
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """One row per rate (rows sharing prefix, band and window) and its tiers, flattened."""
    band_index = pl.DataFrame(
        {
            "sheet_index": [i for i, s in enumerate(sheets) for _ in s.settings.band_names],
            "band": [name for s in sheets for name in s.settings.band_names],
            "band_index": [b for s in sheets for b in range(len(s.settings.band_names))],
        },
        schema={"sheet_index": pl.Int32, "band": pl.String, "band_index": pl.Int32},
    )
    rate_keys = ["sheet_index", "prefix", "band", "effective_from", "effective_to"]
    rates = (
        rows.sort("sheet_index", "line", "from_s")
        .group_by(rate_keys, maintain_order=True)
        .agg(
            pl.col("destination").sort_by("from_s").first(),
            pl.col("connect_fee_nano").sort_by("from_s").first(),
            pl.col("max_cost_nano").sort_by("from_s").first(),
            pl.col("line").min(),
            tier_count=pl.len().cast(pl.Int32),
        )
        .with_row_index("rate")
        .with_columns(pl.col("rate").cast(pl.Int32))
        .join(band_index, on=["sheet_index", "band"], how="left")
        .with_columns(pl.col("band_index").fill_null(-1))
    )
    max_tiers = int(rates.select(pl.col("tier_count").max()).item() or 1)
    tiers = (
        rows.join(rates.select([*rate_keys, "rate"]), on=rate_keys, nulls_equal=True)
        .sort("rate", "from_s")
        .with_columns(tier=pl.col("from_s").rank("ordinal").over("rate").cast(pl.Int64) - 1)
    )
    slots = pl.DataFrame(
        {"slot": pl.int_range(0, rates.height * max_tiers, eager=True)}
    ).with_columns(
        rate=(pl.col("slot") // max_tiers).cast(pl.Int32), tier=pl.col("slot") % max_tiers
    )
    flat = (
        slots.join(tiers, on=["rate", "tier"], how="left")
        .sort("slot")
        .select(
            from_s=pl.col("from_s").fill_null(NEVER),
            increment_s=pl.col("increment_s").fill_null(1),
            rate_nano=pl.col("rate_nano").fill_null(0),
            unit_s=pl.col("unit_s").fill_null(1),
        )
    )
    return rates, flat, max_tiers


def _resolution(
    nodes: pl.DataFrame, rates: pl.DataFrame, sheets: list[RateSheet], max_bands: int
) -> pl.DataFrame:
    """The winning rate for every (node, band) over time, as a sorted key -> rate table."""
    ancestors = (
        nodes.with_columns(length=pl.int_ranges(1, pl.col("prefix").str.len_chars() + 1))
        .explode("length")
        .with_columns(ancestor_prefix=pl.col("prefix").str.slice(0, pl.col("length")))
        .join(
            nodes.rename({"node": "ancestor", "prefix": "ancestor_prefix"}),
            on=["sheet_index", "ancestor_prefix"],
        )
        .select("node", "ancestor", "length")
    )
    node_bands = nodes.join(
        pl.DataFrame(
            {
                "sheet_index": [i for i, s in enumerate(sheets) for _ in s.settings.band_names],
                "band": [b for s in sheets for b in range(len(s.settings.band_names))],
            },
            schema={"sheet_index": pl.Int32, "band": pl.Int32},
        ),
        on="sheet_index",
    ).select("node", "band")
    ancestor_rates = ancestors.join(
        nodes.join(rates, on=["sheet_index", "prefix"]).select(
            ancestor=pl.col("node"),
            rate="rate",
            rate_band="band_index",
            effective_from="effective_from",
            effective_to="effective_to",
        ),
        on="ancestor",
    )
    candidates = (
        node_bands.join(ancestor_rates, on="node")
        .filter((pl.col("rate_band") == pl.col("band")) | (pl.col("rate_band") == -1))
        .with_columns(
            score=pl.col("length") * 2 + (pl.col("rate_band") == pl.col("band")).cast(pl.Int64)
        )
    )
    always = node_bands.with_columns(moment=pl.lit(-TIME_OFFSET, pl.Int64))
    breakpoints = pl.concat(
        [
            always,
            candidates.select("node", "band", moment=pl.col("effective_from")).drop_nulls(),
            candidates.select("node", "band", moment=pl.col("effective_to")).drop_nulls(),
        ]
    ).unique()
    winners = (
        breakpoints.join(candidates, on=["node", "band"])
        .filter(
            (pl.col("effective_from").is_null() | (pl.col("effective_from") <= pl.col("moment")))
            & (pl.col("effective_to").is_null() | (pl.col("moment") < pl.col("effective_to")))
        )
        .sort("score", descending=True)
        .group_by("node", "band", "moment")
        .agg(pl.col("rate").first())
    )
    return (
        breakpoints.join(winners, on=["node", "band", "moment"], how="left")
        .select(
            key=(
                (pl.col("node").cast(pl.Int64) * max_bands + pl.col("band")) * (1 << TIME_BITS)
                + pl.col("moment")
                + TIME_OFFSET
            ),
            rate=pl.col("rate"),
        )
        .sort("key")
    )


def _sheet_table(sheets: list[RateSheet]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sheet": [s.id for s in sheets],
            "currency": [s.currency for s in sheets],
            "decimals": [s.settings.rounding.decimals for s in sheets],
            "method": [s.settings.rounding.method.value for s in sheets],
            "grace_ms": [s.settings.grace_s * 1000 for s in sheets],
            "split": [s.settings.band_mode == "split" for s in sheets],
        },
        schema={
            "sheet": pl.String,
            "currency": pl.String,
            "decimals": pl.Int64,
            "method": pl.String,
            "grace_ms": pl.Int64,
            "split": pl.Boolean,
        },
    ).with_row_index("sheet_index")


def _account_tables(
    accounts: pl.DataFrame | None, sheets: list[RateSheet]
) -> dict[str, pl.DataFrame | None]:
    """Accounts' plans as a key -> sheet table, and caller numbers -> account."""
    if accounts is None:
        return {"accounts": None, "numbers": None}
    sheet_ids = pl.DataFrame(
        {"sheet": [s.id for s in sheets], "sheet_index": list(range(len(sheets)))},
        schema={"sheet": pl.String, "sheet_index": pl.Int32},
    )
    account_index = (
        accounts.select("account").unique(maintain_order=True).with_row_index("account_index")
    )
    plans = (
        accounts.join(account_index, on="account")
        .join(sheet_ids, on="sheet")
        .select(
            "account",
            "account_index",
            "sheet_index",
            key=pl.col("account_index").cast(pl.Int64) * (1 << TIME_BITS)
            + pl.col("effective_from").fill_null(-TIME_OFFSET)
            + TIME_OFFSET,
        )
        .sort("key")
    )
    numbers = (
        accounts.select("account", "numbers")
        .explode("numbers")
        .drop_nulls("numbers")
        .unique()
        .rename({"numbers": "caller_number"})
    )
    return {"accounts": plans, "numbers": numbers}
