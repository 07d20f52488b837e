"""CSV with a header in any layout, read through a mapping the user gives.

Database exports and switches without a built-in reader (Cisco CUCM, for instance)
write a header line naming their columns. A ``ColumnMap`` says which of those columns
holds each raw field; on the command line::

    --map call_id=globalCallID_callId --map caller=callingPartyNumber
    --map callee=finalCalledPartyNumber --map duration=duration
    --map start:epoch=dateTimeConnect|dateTimeOrigination --map-skip-rows 1

* ``FIELD=COLUMN``: FIELD is one of the raw fields (call_id, account, caller, callee,
  start, duration, disposition, service); COLUMN a header name (case and surrounding
  spaces do not matter). ``A|B`` takes the first non-empty of several columns.
* ``start:epoch``: the column holds Unix epoch seconds (``0`` counts as empty, as CUCM
  writes it for a call that never connected); ``duration:ms``: milliseconds.
* callee, start and duration must be mapped. Without ``call_id`` each row's call_id is
  ``map-<16 hex digits>``, the fingerprint of its mapped values (``identity``), so a
  re-delivered row is still a duplicate.
* ``skip_rows``: lines after the header that are not calls (CUCM's second line lists
  column types); like the header, they are not counted as rows.

A ``ColumnMap`` travels through ``--format`` as text (``ColumnMap.format_name``), so
every command that takes a format name takes a mapping too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cdr_rating.cdrs.canonical import read_header
from cdr_rating.cdrs.delimited import field_name, read_fields
from cdr_rating.cdrs.identity import fingerprint, hex_digits
from cdr_rating.cdrs.records import field, raw_frame, shape_checks, shaped
from cdr_rating.cdrs.schema import RAW_COLUMNS
from cdr_rating.errors import InputError, UsageError

FORMAT_PREFIX = "mapped:"
REQUIRED = ("callee", "start", "duration")
KINDS = {"start": ("epoch",), "duration": ("ms",)}
MAX_EPOCH_DIGITS = 11  # seconds up to year 5138; longer is a corrupt field


@dataclass(frozen=True)
class MappedField:
    """One raw field and the columns it is read from (the first non-empty wins)."""

    name: str
    columns: tuple[str, ...]
    kind: str | None = None


@dataclass(frozen=True)
class ColumnMap:
    """Which header columns hold which raw fields (see the module docstring)."""

    fields: tuple[MappedField, ...]
    skip_rows: int = 0
    separator: str = ","

    @classmethod
    def parse(cls, specs: Sequence[str], skip_rows: int = 0, separator: str = ",") -> ColumnMap:
        """A map from ``--map FIELD[:KIND]=COLUMN[|COLUMN...]`` values.

        Raises:
            UsageError: an unknown field or kind, a field given twice, a required field
                missing, a bad separator or a negative ``skip_rows``.
        """
        fields: dict[str, MappedField] = {}
        for spec in specs:
            target, equals, source = spec.partition("=")
            name, _, kind = target.strip().partition(":")
            columns = tuple(column.strip() for column in source.split("|"))
            if not equals or not name or not all(columns):
                raise UsageError(f"--map {spec!r}: write FIELD=COLUMN (e.g. start=dateTimeConnect)")
            if name not in RAW_COLUMNS:
                raise UsageError(f"--map {spec!r}: {name!r} is not one of {', '.join(RAW_COLUMNS)}")
            if kind and kind not in KINDS.get(name, ()):
                allowed = ", ".join(f"{field}:{k}" for field, ks in KINDS.items() for k in ks)
                raise UsageError(f"--map {spec!r}: unknown kind {kind!r} (there is {allowed})")
            if name in fields:
                raise UsageError(f"--map: {name} is mapped twice")
            fields[name] = MappedField(name, columns, kind or None)
        missing = [name for name in REQUIRED if name not in fields]
        if missing:
            raise UsageError(f"--map: {', '.join(missing)} must be mapped too")
        if len(separator) != 1 or separator in '"\r\n':
            raise UsageError(f"--map-separator {separator!r} must be one character, not a quote")
        if skip_rows < 0:
            raise UsageError("--map-skip-rows must be 0 or more")
        return cls(tuple(fields.values()), skip_rows, separator)

    def format_name(self) -> str:
        """The ``--format`` value that stands for this map (``mapped:`` + JSON)."""
        described = {
            "fields": [[item.name, list(item.columns), item.kind] for item in self.fields],
            "skip_rows": self.skip_rows,
            "separator": self.separator,
        }
        return FORMAT_PREFIX + json.dumps(described, separators=(",", ":"))

    @classmethod
    def from_format_name(cls, text: str) -> ColumnMap:
        """The map a ``format_name`` stands for.

        Raises:
            UsageError: the text is not a mapping this class wrote.
        """
        try:
            described = json.loads(text.removeprefix(FORMAT_PREFIX))
            specs = [
                f"{name}{':' + kind if kind else ''}={'|'.join(columns)}"
                for name, columns, kind in described["fields"]
            ]
            skip_rows, separator = int(described["skip_rows"]), str(described["separator"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--format {text!r} is not a column mapping") from exc
        return cls.parse(specs, skip_rows, separator)


@dataclass(frozen=True)
class MappedReader:
    """A format reader (``Callable[[Path], LazyFrame]``) bound to one ``ColumnMap``."""

    column_map: ColumnMap

    def __call__(self, path: Path) -> pl.LazyFrame:
        """The raw frame of ``path`` read through the map."""
        column_map = self.column_map
        header_line, names = read_header(path, column_map.separator)
        positions = _positions(path, names, column_map)
        wanted = sorted({index for indexes in positions.values() for index in indexes})
        rows = read_fields(path, wanted, column_map.separator)
        rows = rows.filter(pl.col("line") > header_line).slice(column_map.skip_rows)
        rows = rows.with_columns(field(index).alias(field_name(index)) for index in wanted)
        values = {item.name: _value(item, positions[item.name]) for item in column_map.fields}
        if "call_id" not in values:
            row_key = fingerprint(rows, [field_name(index) for index in wanted])
            rows = rows.with_columns(_row_key=row_key)
            values["call_id"] = "map-" + hex_digits(pl.col("_row_key"), 16)
        counts = pl.col("fields") == len(names)
        checks = shape_checks(counts, f"the header has {len(names)}")
        return raw_frame(rows, path, shaped(counts), values, checks)


def _positions(path: Path, names: list[str], column_map: ColumnMap) -> dict[str, list[int]]:
    """The header position of every mapped column, by field."""
    lowered = [name.strip().lower() for name in names]
    positions: dict[str, list[int]] = {}
    for item in column_map.fields:
        for column in item.columns:
            if column.strip().lower() not in lowered:
                raise InputError(
                    f"{path}: no column {column!r} for {item.name} in the header "
                    f"(it has: {', '.join(names)})"
                )
        positions[item.name] = [lowered.index(column.strip().lower()) for column in item.columns]
    return positions


def _value(item: MappedField, indexes: list[int]) -> pl.Expr:
    """The field's text: the first non-empty column, converted as its kind says."""
    if item.kind == "epoch":
        # 0 is what CUCM writes for "never connected": try the next column instead.
        candidates = [
            pl.when(~pl.col(field_name(i)).is_in(["", "0"])).then(pl.col(field_name(i)))
            for i in indexes
        ]
        return _epoch_seconds(pl.coalesce(candidates).fill_null(""))
    value = pl.coalesce(
        [pl.when(pl.col(field_name(i)) != "").then(pl.col(field_name(i))) for i in indexes]
    ).fill_null("")
    if item.kind == "ms":
        return _milliseconds(value)
    return value


def _epoch_seconds(text: pl.Expr) -> pl.Expr:
    """Unix seconds as ISO 8601 UTC text; anything else stays as it is, for
    ``prepare_calls`` to reject with the original text."""
    seconds = pl.when(text.str.contains(rf"^\d{{1,{MAX_EPOCH_DIGITS}}}$")).then(
        text.str.to_integer(strict=False)
    )
    iso = pl.from_epoch(seconds, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return pl.coalesce(iso, text)


def _milliseconds(text: pl.Expr) -> pl.Expr:
    """Milliseconds (``1500``, ``1500.5``) as seconds text (``1.5``); anything else stays
    as it is."""
    as_decimal = pl.Decimal(38, 9)
    seconds = text.str.to_decimal(scale=6).cast(as_decimal) / pl.lit(1000).cast(as_decimal)
    number = text.str.contains(r"^\d+(\.\d*)?$")
    return pl.when(number).then(seconds.cast(pl.String)).otherwise(text)
