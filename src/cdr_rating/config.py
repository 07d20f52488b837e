"""Settings of the nightly run: ``cdr-rating.toml``, then ``CDR_RATING__SECTION__KEY``.

The file is read from the working directory unless a path is given; environment
variables override single keys (``CDR_RATING__PATHS__DATA_DIR=/srv/cdr``; lists as
JSON, ``CDR_RATING__INPUT__STRIP_PREFIXES='["1010"]'``). Relative paths, from the
file or the environment, are relative to the folder of the configuration file.
Unknown keys are errors: a typo must not silently send data somewhere else.

Example:
    >>> from pathlib import Path
    >>> settings = load_settings(Path("cdr-rating.toml"))  # doctest: +SKIP
    >>> settings.paths.data_dir  # doctest: +SKIP
    PosixPath('/srv/cdr-rating/var')
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cdr_rating.cdrs import InputOptions, NumberRules
from cdr_rating.cdrs.numbers import PAIR_RULE, digits_problem, strip_prefix_problem
from cdr_rating.cdrs.parse import DEFAULT_MAX_DURATION_S, max_duration_problem
from cdr_rating.choices import FORMATS
from cdr_rating.errors import ConfigError
from cdr_rating.tomlfiles import parse_toml

CONFIG_FILE = "cdr-rating.toml"
ENV_PREFIX = "CDR_RATING__"


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not an IANA timezone (e.g. Europe/Berlin)") from exc
    return name


class Section(BaseModel):
    """A table of the configuration file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsSettings(Section):
    """``[paths]``: where the data directory, the inbox and the reference files are."""

    data_dir: Path = Path("var")
    inbox: Path = Path("inbox")
    inbox_patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.parquet"])
    sheets: Path = Path("rate_sheets")
    accounts: Path | None = None
    fees: Path | None = None
    templates: Path = Path("templates")

    def resolved(self, base: Path) -> PathsSettings:
        """Every relative path made absolute against ``base`` (the config file's folder)."""

        def resolve(path: Path | None) -> Path | None:
            return None if path is None else (base / path.expanduser()).resolve()

        return self.model_copy(
            update={
                name: resolve(getattr(self, name))
                for name in ("data_dir", "inbox", "sheets", "accounts", "fees", "templates")
            }
        )


class InputSettings(Section):
    """``[input]``: how CDR files are read (the options of ``cdr-rating rate``)."""

    format: str = "auto"
    timezone: str = "UTC"
    international_prefix: str = "00"
    trunk_prefix: str | None = None
    country_code: str | None = None
    strip_prefixes: list[str] = Field(default_factory=list)
    max_duration_s: int = DEFAULT_MAX_DURATION_S
    # A call whose start is this close to a billing period's boundary is also checked
    # for duplicates against the adjacent period's stored calls (a re-sent CDR whose
    # start moved a little across the boundary); 0 turns that off.
    duplicate_window: dt.timedelta = Field(
        default=dt.timedelta(days=1), ge=dt.timedelta(0), le=dt.timedelta(days=7)
    )

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"{value!r} is not a CDR format; use one of {', '.join(FORMATS)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("international_prefix", "trunk_prefix", "country_code")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        problem = digits_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("strip_prefixes")
    @classmethod
    def _strip_prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            problem = strip_prefix_problem(prefix)
            if problem:
                raise ValueError(f"{prefix!r} {problem}")
        return value

    @field_validator("max_duration_s")
    @classmethod
    def _max_duration(cls, value: int) -> int:
        problem = max_duration_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _trunk_with_country(self) -> InputSettings:
        if (self.trunk_prefix is None) != (self.country_code is None):
            raise ValueError(f"trunk_prefix and country_code {PAIR_RULE}")
        return self

    def options(self) -> InputOptions:
        """How the inbox's CDR text is read with these settings."""
        return InputOptions(
            input_tz=self.timezone,
            numbers=self.number_rules(),
            max_duration_s=self.max_duration_s,
        )

    def number_rules(self) -> NumberRules:
        """How dialled and caller numbers are normalised with these settings."""
        return NumberRules(
            international_prefix=self.international_prefix,
            trunk_prefix=self.trunk_prefix,
            country_code=self.country_code,
            strip_prefixes=tuple(self.strip_prefixes),
        )


class IssuerSettings(Section):
    """``[billing.issuer]``: who issues the invoices."""

    name: str = ""
    address: str = ""
    vat_id: str = ""
    email: str = ""


class BillingSettings(Section):
    """``[billing]``: billing periods (calendar months in ``timezone``) and invoicing."""

    timezone: str = "UTC"
    issuer: IssuerSettings = Field(default_factory=IssuerSettings)
    invoice_prefix: str = Field(default="INV", pattern=r"^[A-Za-z0-9]+$")
    credit_note_prefix: str = Field(default="CN", pattern=r"^[A-Za-z0-9]+$")
    debit_note_prefix: str = Field(default="DN", pattern=r"^[A-Za-z0-9]+$")
    payment_terms_days: int = Field(default=14, ge=0, le=365)
    # Decimals of invoice totals and taxes per currency, where not ISO 4217's.
    currency_decimals: dict[str, int] = Field(default_factory=dict)
    # Processes that render invoice PDFs; 0: one per CPU core.
    render_workers: int = Field(default=0, ge=0, le=256)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class LedgerSettings(Section):
    """``[ledger]``: the nightly run's rotated ledger backups."""

    # Backups kept (the newest); 0: the nightly run makes none.
    backups: int = Field(default=7, ge=0, le=1000)
    # Where they are kept; default: ``backups/`` in the data directory.
    backup_dir: Path | None = None

    def resolved(self, base: Path) -> LedgerSettings:
        if self.backup_dir is None:
            return self
        return self.model_copy(
            update={"backup_dir": (base / self.backup_dir.expanduser()).resolve()}
        )


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    paths: PathsSettings = Field(default_factory=PathsSettings)
    input: InputSettings = Field(default_factory=InputSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    source: Path = Field(default=Path(CONFIG_FILE), exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return (env_settings, init_settings)


SECTIONS = tuple(name for name in Settings.model_fields if name != "source")


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate ``path`` (default ``./cdr-rating.toml``) plus the environment.

    Raises:
        ConfigError: one line per problem, each naming the file and the key.
    """
    path = path if path is not None else Path(CONFIG_FILE)
    environ = os.environ  # pydantic-settings reads it too
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: configuration file not found; create it (see the README) or pass "
            "--config FILE"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc}") from exc
    data = parse_toml(text, path)
    problems = [
        f"{path}: environment variable {name}: unknown section {section!r} "
        f"(known: {', '.join(SECTIONS)})"
        for name in sorted(environ)
        if name.upper().startswith(ENV_PREFIX)
        and (section := name[len(ENV_PREFIX) :].split("__")[0].lower()) not in SECTIONS
    ]
    if "source" in data:
        problems.append(f"{path}: key 'source': unknown key")
    if problems:
        raise ConfigError(problems)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError([_describe(path, error, environ) for error in exc.errors()]) from exc
    base = path.resolve().parent
    return settings.model_copy(
        update={
            "paths": settings.paths.resolved(base),
            "ledger": settings.ledger.resolved(base),
            "source": path.resolve(),
        }
    )


def _describe(path: Path, error: ErrorDetails, environ: Mapping[str, str]) -> str:
    """``FILE: key 'section.key': what is wrong`` (and which variable set it, if one did)."""
    location = [str(part) for part in error["loc"]]
    key = ".".join(location)
    variable = ENV_PREFIX + "__".join(part.upper() for part in location if not part.isdigit())
    origin = f" (from environment variable {variable})" if variable in environ else ""
    if error["type"] == "extra_forbidden":
        return f"{path}: key {key!r}{origin}: unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    elif "input" in error and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    return f"{path}: key {key!r}{origin}: {message}"
