"""``cdr-rating run``: the nightly job (see ``cdr_rating.batch``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from cdr_rating.cli.console import error_console
from cdr_rating.cli.logs import LogFormat, configure_logging
from cdr_rating.config import load_settings
from cdr_rating.errors import CdrRatingError, ConfigError
from cdr_rating.jobs.nightly import Progress as ProgressCallback
from cdr_rating.jobs.nightly import RunReport, RunRequest, run_batch

log = logging.getLogger("cdr_rating.cli.run")


def run_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Configuration file (default: ./cdr-rating.toml)."),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="Billing period YYYY-MM: ingest only new files with a call in it; "
            "the period --close closes.",
        ),
    ] = None,
    close: Annotated[
        bool, typer.Option("--close", help="Close the period after ingesting.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would happen; write nothing.")
    ] = False,
    allow_closed: Annotated[
        bool,
        typer.Option("--allow-closed", help="Store late calls in closed periods too."),
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option("--log-format", help="stderr: text, json lines, or auto (text on a tty)."),
    ] = LogFormat.AUTO,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="Also list each file skipped or left in the inbox, and why."
        ),
    ] = False,
) -> None:
    """Ingest new inbox files into the store: rate, file by period, record in the ledger."""
    chosen = configure_logging(log_format)
    request = RunRequest(period=period, close=close, dry_run=dry_run, allow_closed=allow_closed)
    try:
        settings = load_settings(config)
        with _progress(enabled=chosen is LogFormat.TEXT and sys.stderr.isatty()) as progress:
            report = run_batch(settings, request, progress)
    except CdrRatingError as exc:
        if chosen is LogFormat.TEXT:
            raise  # the entry point prints it the way every command does
        for problem in exc.problems if isinstance(exc, ConfigError) else [str(exc)]:
            log.error(problem, extra={"data": {"exit_status": int(exc.exit_code)}})
        raise typer.Exit(exc.exit_code) from exc
    if verbose:
        _list_files(report, settings.paths.inbox)
    manifest = None if report.manifest is None else str(report.manifest.resolve())
    if chosen is LogFormat.TEXT:
        for line in report.summary_lines():
            log.info(line)
    else:
        summary = {**report.as_dict(), "manifest": manifest, "summary": report.summary_lines()}
        log.info(report.summary_lines()[0], extra={"data": summary})


def _list_files(report: RunReport, inbox: Path) -> None:
    """One line per inbox file not ingested (the summary counts them), by absolute path."""
    for verb, files in (("skipped", report.skipped), ("left in the inbox", report.deferred)):
        for file in files:
            path = str((inbox / file.name).resolve())
            log.info("%s %s: %s", verb, path, file.why, extra={"data": {"file": path}})


@contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A transient progress bar on stderr, when it is a terminal."""
    if not enabled:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=error_console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total or None)

        yield update
