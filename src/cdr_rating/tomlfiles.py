"""Parsing the TOML files cdr-rating reads (the configuration, rate sheets)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cdr_rating.errors import ConfigError


def parse_toml(text: str, path: Path, error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """The tables of ``text``, read from ``path``.

    Raises:
        ConfigError (or ``error``): a syntax error, or nesting so deep that the parser
            runs out of stack (``tomllib`` recurses per level): one line naming the file.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: TOML syntax error: {exc}") from exc
    except RecursionError as exc:
        raise error(
            f"{path}: TOML nested too deeply (arrays or inline tables inside each other); "
            "a configuration needs only a few levels"
        ) from exc
