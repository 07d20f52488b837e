"""Number normalisation, as vectorised expressions: dialled text to plain digits."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

MAX_NUMBER_DIGITS = 32
# Spaces and the punctuation people and switches put in numbers: "+49 (30) 123-45.67/8".
_PUNCTUATION = r"[\s\-\.\(\)/]"


@dataclass(frozen=True)
class NumberRules:
    """How dialled numbers become the digits that are matched against prefixes.

    ``international_prefix``: stripped from the front (``00``; ``011`` in NANP).
    ``trunk_prefix`` + ``country_code``: a national number (``030 1234``) becomes
    international (``49 30 1234``); off unless both are set.
    ``strip_prefixes``: technology or carrier-selection prefixes removed first.
    """

    international_prefix: str = "00"
    trunk_prefix: str | None = None
    country_code: str | None = None
    strip_prefixes: tuple[str, ...] = field(default_factory=tuple)

    def normalise(self, dialled: pl.Expr) -> pl.Expr:
        """Digits to match, or null where the number is unusable (see ``is_bad``)."""
        text = dialled.fill_null("").str.replace_all(_PUNCTUATION, "")
        for prefix in self.strip_prefixes:
            text = text.str.strip_prefix(prefix)
        plus = text.str.starts_with("+")
        digits = text.str.strip_prefix("+")
        if self.international_prefix:
            digits = (
                pl.when(~plus & digits.str.starts_with(self.international_prefix))
                .then(digits.str.slice(len(self.international_prefix)))
                .otherwise(digits)
            )
            is_international = plus | text.str.starts_with(self.international_prefix)
        else:
            is_international = plus
        if self.trunk_prefix and self.country_code:
            digits = (
                pl.when(~is_international & digits.str.starts_with(self.trunk_prefix))
                .then(pl.lit(self.country_code) + digits.str.slice(len(self.trunk_prefix)))
                .otherwise(digits)
            )
        return pl.when(digits.str.contains(rf"^\d{{1,{MAX_NUMBER_DIGITS}}}$")).then(digits)

    @staticmethod
    def problem(dialled: pl.Expr) -> pl.Expr:
        """Why a number could not be normalised, for the reject message."""
        text = dialled.fill_null("").str.replace_all(_PUNCTUATION, "")
        return (
            pl.when(text == "")
            .then(pl.lit("the number is empty"))
            .when(text.str.starts_with("*") | text.str.starts_with("#"))
            .then(pl.lit("a feature code, not a number to rate"))
            .when(text.str.strip_prefix("+").str.contains(r"^\d+$"))
            .then(pl.lit(f"longer than {MAX_NUMBER_DIGITS} digits"))
            .otherwise(pl.lit("not digits after removing spaces and punctuation"))
        )
