"""Options shared by the commands that rate calls, and building a plan from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from cdr_rating.choices import FORMATS
from cdr_rating.errors import UsageError

if TYPE_CHECKING:
    from cdr_rating.cdrs import InputOptions, NumberRules
    from cdr_rating.rating import RatingPlan

Inputs = Annotated[
    list[Path], typer.Argument(help="CDR files (CSV or Parquet).", show_default=False)
]
OptionalInputs = Annotated[
    list[Path] | None,
    typer.Argument(help="CDR files (CSV or Parquet); none with --period.", show_default=False),
]
SheetOption = Annotated[
    Path | None, typer.Option("--sheet", help="One rate sheet (TOML) for every call.")
]
SheetsOption = Annotated[
    Path | None, typer.Option("--sheets", help="Directory of rate sheets; needs --accounts.")
]
AccountsOption = Annotated[
    Path | None, typer.Option("--accounts", help="accounts.csv: each account's sheet.")
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help=f"Input format: {'|'.join(FORMATS)}. auto tells canonical, asterisk (Master.csv), "
        "freeswitch (mod_cdr_csv) and cgrates (*file_csv) apart by the first line; mapped "
        "reads any CSV with a header through --map.",
    ),
]
InputTzOption = Annotated[
    str, typer.Option("--input-tz", help="Timezone of CDR times written without an offset.")
]
InternationalOption = Annotated[
    str, typer.Option("--international-prefix", help="Dialled international prefix to strip.")
]
TrunkOption = Annotated[
    str | None,
    typer.Option("--trunk-prefix", help="National trunk prefix (e.g. 0); needs --country-code."),
]
CountryOption = Annotated[
    str | None,
    typer.Option("--country-code", help="Country code that replaces the trunk prefix (e.g. 49)."),
]
StripPrefixOption = Annotated[
    list[str] | None,
    typer.Option(
        "--strip-prefix",
        help="Technology or carrier-selection prefix removed from dialled numbers before "
        "the other rules (repeatable; each is removed once, in the order given).",
        show_default=False,
    ),
]
MaxDurationOption = Annotated[
    int | None,
    typer.Option(
        "--max-duration",
        help="Longest call in seconds ([input] max_duration_s; default a day, 86400): an "
        "answered call that lasts longer is rejected as bad_duration.",
        show_default=False,
    ),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="With --format mapped: FIELD[:KIND]=COLUMN[|COLUMN...], e.g. "
        "start:epoch=dateTimeConnect. FIELD is call_id, account, caller, callee, start, "
        "duration, disposition or service; KIND start:epoch (Unix seconds) or duration:ms.",
        show_default=False,
    ),
]
MapSkipRowsOption = Annotated[
    int,
    typer.Option("--map-skip-rows", help="With --map: lines after the header that are not calls."),
]
MapSeparatorOption = Annotated[
    str, typer.Option("--map-separator", help="With --map: the field separator.")
]


def build_plan(
    sheet: Path | None, sheets: Path | None, accounts: Path | None, numbers: NumberRules
) -> RatingPlan:
    """A plan from ``--sheet`` alone, or from ``--sheets`` with ``--accounts``."""
    from cdr_rating.jobs.setup import plan_from_files  # noqa: PLC0415 (the library, lazily)
    from cdr_rating.rating import RatingPlan  # noqa: PLC0415
    from cdr_rating.sheets import load_sheet  # noqa: PLC0415

    if sheet is not None and (sheets is not None or accounts is not None):
        raise UsageError("use either --sheet, or --sheets with --accounts, not both")
    if sheet is not None:
        return RatingPlan.from_sheets([load_sheet(sheet)])
    if sheets is None or accounts is None:
        raise UsageError("pass --sheet SHEET.toml, or --sheets DIR together with --accounts FILE")
    return plan_from_files(sheets, accounts, numbers).plan


def input_options(
    input_tz: str,
    international_prefix: str,
    trunk_prefix: str | None,
    country_code: str | None,
    strip_prefixes: list[str] | None = None,
    max_duration_s: int | None = None,
) -> InputOptions:
    """How CDR text is read, from the input options; UsageError for a bad value."""
    from cdr_rating.cdrs import InputOptions, NumberRules  # noqa: PLC0415
    from cdr_rating.cdrs.numbers import number_rule_problem  # noqa: PLC0415
    from cdr_rating.cdrs.parse import DEFAULT_MAX_DURATION_S, max_duration_problem  # noqa: PLC0415

    longest = DEFAULT_MAX_DURATION_S if max_duration_s is None else max_duration_s
    duration_problem = max_duration_problem(longest)
    if duration_problem:
        raise UsageError(f"--max-duration {duration_problem}")

    try:
        ZoneInfo(input_tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"--input-tz {input_tz!r} is not an IANA timezone (e.g. Europe/Berlin)"
        ) from exc
    problem = number_rule_problem(
        international_prefix,
        trunk_prefix,
        country_code,
        strip_prefixes or [],
        names={
            "international_prefix": "--international-prefix",
            "trunk_prefix": "--trunk-prefix",
            "country_code": "--country-code",
            "strip_prefix": "--strip-prefix",
        },
    )
    if problem:
        raise UsageError(problem)
    return InputOptions(
        input_tz=input_tz,
        numbers=NumberRules(
            international_prefix=international_prefix,
            trunk_prefix=trunk_prefix,
            country_code=country_code,
            strip_prefixes=tuple(strip_prefixes or ()),
        ),
        max_duration_s=longest,
    )


def input_format(fmt: str, maps: list[str] | None, skip_rows: int, separator: str) -> str:
    """The format name to read with: ``fmt``, or the column map that ``--map`` describes.

    ``--map`` implies ``--format mapped``; it makes no sense with another format.
    """
    from cdr_rating.cdrs.mapped import ColumnMap  # noqa: PLC0415

    if not maps:
        if skip_rows or separator != ",":
            raise UsageError("--map-skip-rows and --map-separator go with --map")
        return fmt
    if fmt not in ("auto", "mapped"):
        raise UsageError(f"--map reads a mapped CSV; it does not go with --format {fmt}")
    return ColumnMap.parse(maps, skip_rows, separator).format_name()
