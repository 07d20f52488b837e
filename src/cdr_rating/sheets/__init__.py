"""Rate sheets: the TOML + CSV model, loading and validation."""

from cdr_rating.sheets.load import load_sheet
from cdr_rating.sheets.model import RATE_ROWS_SCHEMA, RateSheet, SheetSettings

__all__ = ["RATE_ROWS_SCHEMA", "RateSheet", "SheetSettings", "load_sheet"]
