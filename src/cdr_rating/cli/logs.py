"""Logging to stderr: readable text on a terminal, JSON lines for log collectors."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cdr_rating.cli.console import printable


class LogFormat(StrEnum):
    AUTO = "auto"
    TEXT = "text"
    JSON = "json"


class TextFormatter(logging.Formatter):
    """The message alone, its control characters escaped (it goes to a terminal);
    warnings and errors say so, as the other commands do."""

    def format(self, record: logging.LogRecord) -> str:
        message = printable(record.getMessage())
        if record.levelno >= logging.ERROR:
            return f"cdr-rating: error: {message}"
        if record.levelno >= logging.WARNING:
            return f"cdr-rating: warning: {message}"
        return message


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``data``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "data", {}))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(log_format: LogFormat) -> LogFormat:
    """Send the ``cdr_rating`` loggers to stderr; return the format chosen for ``auto``."""
    chosen = log_format
    if chosen is LogFormat.AUTO:
        chosen = LogFormat.TEXT if sys.stderr.isatty() else LogFormat.JSON
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if chosen is LogFormat.TEXT else JsonFormatter())
    logger = logging.getLogger("cdr_rating")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return chosen
