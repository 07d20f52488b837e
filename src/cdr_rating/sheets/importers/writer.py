"""Writing an imported deck as a rate sheet: ``ID.toml`` and ``ID.csv``, atomically.

Both files are first written into a hidden staging folder inside the output directory
and validated there with ``load_sheet``; only a sheet that loads replaces the files
under their final names (``os.replace``, the CSV first, then the TOML that points to
it). A failure at any point leaves the previous sheet, if any, untouched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from cdr_rating.errors import ConfigError, SheetError, UsageError
from cdr_rating.sheets.importers.common import ROW_COLUMNS, ImportedSheet, clean_text
from cdr_rating.sheets.load import load_sheet
from cdr_rating.sheets.model import RateSheet

REQUIRED_COLUMNS = ("prefix", "rate")


def sheet_toml(imported: ImportedSheet) -> str:
    """The TOML settings: comments on the origin, top-level keys, then ``[rounding]``."""
    settings = imported.settings
    lines = [
        f"# Imported with `cdr-rating sheet import --preset {imported.preset.value}` from "
        f"{_comment(imported.source.name)}.",
        *(f"# {_comment(note)}" for note in imported.notes),
        f"id = {_string(settings.id)}",
        f"currency = {_string(settings.currency)}",
        f"timezone = {_string(settings.timezone)}",
        f"rates = {_string(settings.rates)}",
        f"band_mode = {_string(settings.band_mode)}",
        f"grace_s = {settings.grace_s}",
        "",
        "[rounding]",
        f"decimals = {settings.rounding.decimals}",
        f"method = {_string(settings.rounding.method.value)}",
    ]
    return "\n".join(lines) + "\n"


def sheet_csv(imported: ImportedSheet) -> str:
    """The rates CSV: the contract columns that have a value in some row."""
    rows = imported.rows
    used = [
        name
        for name in ROW_COLUMNS
        if name in REQUIRED_COLUMNS or rows.get_column(name).null_count() < rows.height
    ]
    return rows.select(used).write_csv()


def write_sheet(imported: ImportedSheet, out_dir: Path) -> RateSheet:
    """Write ``ID.toml`` and ``ID.csv`` into ``out_dir`` and return the sheet loaded back.

    Raises:
        UsageError: ``out_dir`` is not a directory that can be written.
        ConfigError: the written sheet does not validate (an importer bug, reported).
    """
    settings = imported.settings
    toml_name, csv_name = f"{settings.id}.toml", settings.rates
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a directory")
    stage = out_dir / f".{settings.id}.import-{os.getpid()}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        _write_synced(stage / csv_name, sheet_csv(imported))
        _write_synced(stage / toml_name, sheet_toml(imported))
        try:
            load_sheet(stage / toml_name)
        except SheetError as exc:
            raise ConfigError(
                [
                    f"the imported sheet does not validate (please report this): {problem}"
                    for problem in exc.problems
                ]
            ) from exc
        os.replace(stage / csv_name, out_dir / csv_name)
        os.replace(stage / toml_name, out_dir / toml_name)
        _sync_directory(out_dir)
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot write the sheet: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return load_sheet(out_dir / toml_name)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_directory(directory: Path) -> None:
    """Make the renames durable (best effort: not every platform can open a directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _string(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML escapes)."""
    return json.dumps(value, ensure_ascii=True)


def _comment(text: str) -> str:
    """One comment line: no line breaks or other control characters."""
    return clean_text(text)
