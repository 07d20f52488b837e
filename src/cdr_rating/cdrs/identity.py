"""Stable fingerprints of CDR fields, for call identifiers that never change.

A call_id must be the same every time the same row is read, in any run and with any
Polars version: duplicates are found by call_id, also against calls stored in earlier
runs. ``Expr.hash`` is documented as unstable across Polars versions, so this module
defines its own 64-bit hash with plain UInt64 arithmetic (which wraps on overflow):

1. the fields are joined with ``\\x1f`` (unit separator) into a key; a null is empty;
2. the key's UTF-8 bytes, zero-padded, are read as little-endian 64-bit words
   ``w_0 .. w_{k-1}`` (at most ``MAX_WORDS``: longer keys count by their first 256
   bytes and their length);
3. ``h = (SEED + length + sum(w_i * C_i)) mod 2**64`` with fixed odd constants
   ``C_i`` (a multilinear hash), then the SplitMix64 finaliser mixes the bits.

``fingerprint_reference`` states the same in plain Python; a test pins both to known
values.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import polars as pl

MAX_WORDS = 32
SEED = 0x9E3779B97F4A7C15  # so that an empty key does not hash to 0
SEPARATOR = "\x1f"
_MASK = (1 << 64) - 1


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


WORD_CONSTANTS = tuple(_splitmix64(index) | 1 for index in range(MAX_WORDS))


def fingerprint_reference(fields: Sequence[str | None]) -> int:
    """The 64-bit fingerprint of one row's fields, computed in plain Python."""
    key = SEPARATOR.join(field or "" for field in fields).encode("utf-8")
    padded = key[: 8 * MAX_WORDS].ljust(8 * MAX_WORDS, b"\0")
    total = SEED + len(key)
    for index in range(MAX_WORDS):
        word = int.from_bytes(padded[8 * index : 8 * index + 8], "little")
        total += word * WORD_CONSTANTS[index]
    return _finalise(total & _MASK)


def _finalise(value: int) -> int:
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


def fingerprint(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """The 64-bit fingerprint (UInt64) of ``columns`` in every row of ``frame``."""
    words = words_needed(frame, columns)
    plan = with_fingerprint(frame.lazy(), columns, words, "_fingerprint")
    return plan.select("_fingerprint").collect(engine="streaming").to_series()


def words_needed(frame: pl.DataFrame, columns: Sequence[str]) -> int:
    """How many 64-bit words the longest key of ``frame`` fills (at most ``MAX_WORDS``):
    the words after it are zero for every row and add nothing."""
    lengths = pl.sum_horizontal(pl.col(name).fill_null("").str.len_bytes() for name in columns)
    longest = frame.select(lengths.max().fill_null(0)).item()
    return min(MAX_WORDS, max(1, -(-(int(longest) + len(columns) - 1) // 8)))


def with_fingerprint(
    plan: pl.LazyFrame, columns: Sequence[str], words: int, name: str
) -> pl.LazyFrame:
    """Add ``name``: the fingerprint of ``columns``, reading ``words`` words of each key
    (``words_needed``; fewer would cut long keys short of the reference)."""
    texts = [pl.col(column).fill_null("") for column in columns]
    width = 8 * words
    separated: list[pl.Expr] = []
    for text in texts:
        separated += [pl.lit(SEPARATOR), text] if separated else [text]
    # The key and its zero padding in one copy; a character has at least one byte, so
    # ``width`` padding bytes make every key at least ``width`` bytes long.
    padded = pl.concat_str([*separated, pl.lit("\0" * width)])
    length = pl.sum_horizontal(text.str.len_bytes() for text in texts) + (len(texts) - 1)
    as_words = (
        padded.cast(pl.Binary)
        .bin.slice(0, width)
        .bin.reinterpret(dtype=pl.Array(pl.UInt64, words), endianness="little")
    )
    constants = pl.lit(pl.Series([WORD_CONSTANTS[:words]], dtype=pl.Array(pl.UInt64, words)))
    h = pl.col(name)
    plan = plan.with_columns(
        (_u64(SEED) + length.cast(pl.UInt64) + (as_words * constants).arr.sum()).alias(name)
    )
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        plan = plan.with_columns(((h ^ (h // _u64(1 << shift))) * _u64(multiplier)).alias(name))
    return plan.with_columns((h ^ (h // _u64(1 << 31))).alias(name))


@cache
def _hex_table() -> pl.Series:
    """Every 16-bit value as 4 lower-case hex digits: one gather per 4 digits."""
    return pl.Series([f"{value:04x}" for value in range(1 << 16)], dtype=pl.String)


def hex_digits(value: pl.Expr, digits: int) -> pl.Expr:
    """The low ``4 * digits`` bits of a UInt64 as lower-case hexadecimal text.

    ``digits`` is a multiple of 4 (up to 16).
    """
    table = pl.lit(_hex_table())
    groups = [
        table.gather((value // _u64(1 << (16 * group)) % _u64(1 << 16)).cast(pl.UInt32))
        for group in reversed(range(digits // 4))
    ]
    return pl.concat_str(groups)
