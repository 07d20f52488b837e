"""Number normalisation, as vectorised expressions: dialled text to plain digits."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

MAX_NUMBER_DIGITS = 32
# What people and switches put between digits: "+49 (30) 123-45.67/8". "(0)" goes
# first and whole: in "+49 (0)30 1234" the bracketed trunk zero is not dialled.
_NOISE = ["(0)", " ", "\t", "-", ".", "(", ")", "/"]


DIGITS_RULE = "must be digits (e.g. 00)"
STRIP_PREFIX_RULE = "must be non-empty, without spaces or punctuation"
PAIR_RULE = "go together; set both or neither"


def digits_problem(value: str | None) -> str | None:
    """An international prefix, trunk prefix or country code: digits (or unset)."""
    return DIGITS_RULE if value and not value.isdigit() else None


def strip_prefix_problem(prefix: str) -> str | None:
    """A strip prefix is non-empty and has no spaces or punctuation: numbers lose both
    before prefixes are stripped, so such a prefix could never match. Other characters
    are allowed (``tech#``)."""
    if not prefix or not prefix.isprintable() or any(c in prefix for c in " -.()/"):
        return STRIP_PREFIX_RULE
    return None


def number_rule_problem(
    international_prefix: str | None,
    trunk_prefix: str | None,
    country_code: str | None,
    strip_prefixes: tuple[str, ...] | list[str],
    names: dict[str, str],
) -> str | None:
    """What is wrong with these number rules (``None``: nothing), naming each setting as
    ``names`` says (``international_prefix``, ``trunk_prefix``, ``country_code``,
    ``strip_prefix``: a command's options, say). The configuration checks the same
    rules key by key (``cdr_rating.config``)."""
    if (trunk_prefix is None) != (country_code is None):
        return f"{names['trunk_prefix']} and {names['country_code']} {PAIR_RULE}"
    for key, value in (
        ("international_prefix", international_prefix),
        ("trunk_prefix", trunk_prefix),
        ("country_code", country_code),
    ):
        problem = digits_problem(value)
        if problem:
            return f"{names[key]} {value!r} {problem}"
    for prefix in strip_prefixes:
        problem = strip_prefix_problem(prefix)
        if problem:
            return f"{names['strip_prefix']} {prefix!r} {problem}"
    return None


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

    def normalise(self, frame: pl.LazyFrame, source: str, target: str) -> pl.LazyFrame:
        """Add ``target``: the digits of ``source`` to match, or null where unusable.

        Each step is its own column so that the streaming engine evaluates the costly
        regular expression once per row (a shared sub-expression would be re-run).
        """
        cleaned, digits = f"_{target}_cleaned", f"_{target}_digits"
        text = (
            pl.col(source)
            .cast(pl.String)
            .fill_null("")
            .str.replace_many(_NOISE, [""] * len(_NOISE), leftmost=True)
        )
        for prefix in self.strip_prefixes:
            text = text.str.strip_prefix(prefix)
        frame = frame.with_columns(text.alias(cleaned))
        international = pl.col(cleaned).str.starts_with("+")
        stripped = pl.col(cleaned).str.strip_prefix("+")
        if self.international_prefix:
            dialled_prefix = pl.col(cleaned).str.starts_with(self.international_prefix)
            international = international | dialled_prefix
            stripped = (
                pl.when(dialled_prefix)
                .then(pl.col(cleaned).str.slice(len(self.international_prefix)))
                .otherwise(stripped)
            )
        if self.trunk_prefix and self.country_code:
            stripped = (
                pl.when(~international & pl.col(cleaned).str.starts_with(self.trunk_prefix))
                .then(pl.lit(self.country_code) + pl.col(cleaned).str.slice(len(self.trunk_prefix)))
                .otherwise(stripped)
            )
        return (
            frame.with_columns(stripped.alias(digits))
            .with_columns(
                pl.when(pl.col(digits).str.contains(rf"^[0-9]{{1,{MAX_NUMBER_DIGITS}}}$"))
                .then(pl.col(digits))
                .alias(target)
            )
            .drop(cleaned, digits)
        )

    def normalise_list(self, numbers: list[str]) -> list[str | None]:
        """The same rules on a short list (account numbers, one-off look-ups)."""
        frame = pl.LazyFrame({"number": numbers}, schema={"number": pl.String})
        return self.normalise(frame, "number", "digits").collect().get_column("digits").to_list()

    @staticmethod
    def problem(dialled: pl.Expr) -> pl.Expr:
        """Why a number could not be normalised, for the reject message."""
        text = dialled.fill_null("").str.replace_many(_NOISE, [""] * len(_NOISE), leftmost=True)
        return (
            pl.when(text == "")
            .then(pl.lit("the number is empty"))
            .when(text.str.starts_with("*") | text.str.starts_with("#"))
            .then(pl.lit("a feature code, not a number to rate"))
            .when(text.str.strip_prefix("+").str.contains(r"^[0-9]+$"))
            .then(pl.lit(f"longer than {MAX_NUMBER_DIGITS} digits"))
            .otherwise(pl.lit("not digits after removing spaces and punctuation"))
        )
