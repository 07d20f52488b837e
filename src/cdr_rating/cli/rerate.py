"""``cdr-rating rerate``: re-rate a stored period, preview the difference, settle it."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cdr_rating.billing.dispute import dispute_document
from cdr_rating.billing.rerate import RerateResult
from cdr_rating.cli.console import data_console, error_console
from cdr_rating.cli.files import check_writable, shown_path, write_output
from cdr_rating.config import load_settings
from cdr_rating.errors import UsageError
from cdr_rating.jobs.rerate import ApplyReport, rerate, write_changes
from cdr_rating.jobs.setup import issuer
from cdr_rating.money import format_amount
from cdr_rating.names import check_name
from cdr_rating.periods import period_bounds
from cdr_rating.pipeline import check_output_suffix

SHOWN_CALLS = 20


class RerateFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def rerate_command(
    period: Annotated[str, typer.Option("--period", help="Billing period YYYY-MM.")],
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    sheets: Annotated[
        Path | None,
        typer.Option("--sheets", help="Re-rate with the sheets in this folder (default: config)."),
    ] = None,
    output: Annotated[
        RerateFormat, typer.Option("--format", help="table or json.")
    ] = RerateFormat.TABLE,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Replace the stored calls and issue credit/debit notes."),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (required with --apply; kept on record).")
    ] = None,
    calls: Annotated[
        Path | None,
        typer.Option("--calls", help="Write every changed call to this .csv or .parquet file."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="With --account: write the dispute report (CSV, HTML, PDF) into this folder.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Configuration file (default: ./cdr-rating.toml)."),
    ] = None,
) -> None:
    """Re-rate a period's stored calls and show, per account, what changes. Nothing is
    written without --apply."""
    if apply and not (reason or "").strip():
        raise UsageError("--apply needs --reason TEXT: why the period is re-rated")
    if report is not None and account is None:
        raise UsageError("--report needs --account A: a dispute report is about one account")
    if account is not None:
        check_name(account, "--account")
    settings = load_settings(config)
    period_bounds(period, settings.billing.timezone)
    # Before anything is re-rated or applied: an output that cannot be written must not
    # fail the command after --apply has committed.
    if calls is not None:
        check_output_suffix(calls)
        check_writable(calls, "--calls")
    if report is not None:
        check_writable(report, "--report", folder=True)
    result, applied = rerate(
        settings,
        period,
        account=account,
        sheets_dir=sheets,
        apply_reason=(reason or "") if apply else None,
    )
    written: list[Path] = []
    if calls is not None:
        write_output(calls, "--calls", lambda path: write_changes(result, path))
        written.append(calls)
    if report is not None and account is not None:
        from cdr_rating.render.dispute import write_dispute  # noqa: PLC0415 (WeasyPrint: slow)

        dispute, rows = dispute_document(
            result, account, issuer(settings), settings.billing.timezone
        )
        templates = settings.paths.templates
        written += write_output(
            report, "--report", lambda folder: write_dispute(dispute, rows, folder, templates)
        )
    if output is RerateFormat.JSON:
        document = result.as_dict()
        if applied is not None:
            document["applied"] = {
                "rerate_id": applied.rerate_id,
                "notes": applied.notes,
                "files_replaced": applied.files_replaced,
                "manifest": shown_path(settings.paths.data_dir, applied.manifest),
            }
        document["written"] = [str(path.resolve()) for path in written]
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        _print(result)
    _summary(result, applied, written)


def _print(result: RerateResult) -> None:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for name in ("Account", "Invoice", "Billed", "Re-rated", "Difference", "Calls changed"):
        table.add_column(name, justify="left" if name in ("Account", "Invoice") else "right")
    changed = [c for c in result.accounts if c.difference != 0 or c.calls_changed]
    for change in changed:
        row = change.as_dict()
        table.add_row(
            row["account"],
            row["invoice"] or "(not invoiced)",
            f"{row['billed']} {row['currency']}",
            row["rerated"],
            row["difference"],
            str(row["calls_changed"]),
        )
    if changed:
        data_console.print(table)
    unchanged = len(result.accounts) - len(changed)
    data_console.print(f"{unchanged} of {len(result.accounts)} accounts unchanged")
    if result.changes.is_empty():
        return
    calls = Table(show_edge=False, pad_edge=False, header_style="bold", title_justify="left")
    for name in ("Call", "Account", "Number", "Before", "After", "Difference"):
        calls.add_column(name, justify="right" if name == "Difference" else "left")
    for row in result.changes.head(SHOWN_CALLS).iter_rows(named=True):
        calls.add_row(
            row["call_id"],
            row["account"] or "",
            f"+{row['number']}",
            _side(row, "before"),
            _side(row, "after"),
            _money(row["difference"]),
        )
    data_console.print()
    data_console.print(calls)
    if result.changes.height > SHOWN_CALLS:
        data_console.print(
            f"... and {result.changes.height - SHOWN_CALLS} more changed calls (--calls FILE "
            "writes them all)"
        )


def _side(row: dict[str, object], side: str) -> str:
    if row[f"charge_{side}"] is None:
        return "not rated"
    return (
        f"{row[f'prefix_{side}']} {row[f'band_{side}']} {row[f'billable_s_{side}']} s "
        f"{_money(row[f'charge_{side}'])}"
    )


def _money(value: object) -> str:
    """A stored charge (9 decimals) with as few as its value needs, at least four."""
    if not isinstance(value, Decimal):
        return str(value)
    for places in (4, 6, 9):
        if value == round(value, places):
            return format_amount(value, places)
    return str(value)


def _summary(result: RerateResult, applied: ApplyReport | None, written: list[Path]) -> None:
    """What changes, and what was written: the ledger and store (--apply), the files."""
    totals = ", ".join(
        f"{currency} {amount}" for currency, amount in sorted(result.total_difference().items())
    )
    if result.calls == 0:
        lines = [f"no stored calls for {result.period}: nothing to re-rate"]
    else:
        lines = [
            f"re-rated {result.period}: {result.calls} stored calls in {result.slices} "
            f"slices, {result.changes.height} calls changed"
        ]
    lines.append(f"total difference: {totals or '0'}")
    files = ", ".join(str(path.resolve()) for path in written)
    if applied is None and files:
        lines.append(f"preview: the ledger and store are unchanged; wrote {files}")
    elif applied is None:
        lines.append("preview only: nothing was written (--apply --reason TEXT commits it)")
    elif result.unchanged:
        lines.append("nothing to apply: the stored calls already price this way")
    else:
        notes = ", ".join(applied.notes) or "none (no finalised invoice changed)"
        lines.append(
            f"applied as {applied.rerate_id}: {applied.files_replaced} store files replaced, "
            f"notes issued: {notes}"
        )
    if applied is not None and files:
        lines.append(f"wrote {files}")
    for line in lines:
        error_console.print(line, markup=False, highlight=False)
