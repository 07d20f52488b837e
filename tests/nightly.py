"""A small workspace for ``cdr-rating run``: a config, an inbox, and ways to run and compare.

The inbox is the demo day split in two files, plus a call in November (Berlin time) and
a row without a readable start, so that a run writes to two periods and to
``rejects/unknown``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl

from cdr_rating.config import Settings, load_settings
from cdr_rating.jobs.nightly import RunReport, RunRequest, run_batch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_cdrs" / "2026-10-01.csv"
NOVEMBER = "nov-0001,ACME-001,+493023125001,+49 30 23125777,2026-10-31T23:30:00Z,95,ANSWERED"
NO_START = "bad-0001,ACME-001,+493023125001,+49 30 23125777,yesterday,95,ANSWERED"


def sample_rows() -> tuple[str, list[str]]:
    header, *rows = SAMPLE.read_text(encoding="utf-8").splitlines()
    return header, rows


def write_cdrs(path: Path, rows: list[str]) -> Path:
    header, _ = sample_rows()
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def make_workspace(folder: Path) -> Path:
    """An inbox and ``cdr-rating.toml`` in ``folder``; returns the config file."""
    _, rows = sample_rows()
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    write_cdrs(inbox / "2026-10-01-a.csv", rows[:40])
    write_cdrs(inbox / "2026-10-01-b.csv", [*rows[40:], NOVEMBER, NO_START])
    config = folder / "cdr-rating.toml"
    config.write_text(
        f"""\
[paths]
data_dir = "var"
inbox = "inbox"
sheets = "{ROOT / "rate_sheets"}"
accounts = "{ROOT / "sample_cdrs" / "accounts.csv"}"
templates = "{ROOT / "templates"}"

[billing]
timezone = "Europe/Berlin"
""",
        encoding="utf-8",
    )
    return config


def settings_for(config: Path, data_dir: Path | None = None) -> Settings:
    settings = load_settings(config)
    if data_dir is None:
        return settings
    paths = settings.paths.model_copy(update={"data_dir": data_dir})
    return settings.model_copy(update={"paths": paths})


def run_here(config: Path, data_dir: Path | None = None, **request: Any) -> RunReport:
    """One run in this process."""
    return run_batch(settings_for(config, data_dir), RunRequest(**request))


def cli_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cdr_rating", "run", "--config", str(config), *args]


def cli_env(data_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")}
    if data_dir is not None:
        env["CDR_RATING__PATHS__DATA_DIR"] = str(data_dir)
    return {**env, **extra}


def run_cli(
    config: Path, *args: str, data_dir: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``cdr-rating run`` in a child process."""
    return subprocess.run(
        cli_command(config, *args),
        env=cli_env(data_dir, **extra),
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli_in_process(monkeypatch: Any, *args: str | Path) -> int:
    """Run ``cdr-rating ARGS`` in this process (the same entry point); the exit code."""
    from cdr_rating.cli import main  # only the tests that run it pay

    monkeypatch.setattr(sys, "argv", ["cdr-rating", *map(str, args)])
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def killed_run(config: Path, data_dir: Path, kill_at: str) -> int:
    """``cdr-rating run`` killed at the checkpoint ``kill_at``: its exit code."""
    process = start_cli(config, data_dir=data_dir, CDR_RATING_TEST_KILL_AT=kill_at)
    process.communicate(timeout=120)
    return int(process.returncode)


def start_cli(config: Path, *args: str, data_dir: Path | None = None, **extra: str) -> Any:
    return subprocess.Popen(
        cli_command(config, *args),
        env=cli_env(data_dir, **extra),
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_files(data_dir: Path) -> dict[str, str]:
    """sha256 of every rated, rejects and index Parquet file, by path in the data dir."""
    return {
        path.relative_to(data_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("rated", "rejects", "index")
        for path in sorted((data_dir / folder).rglob("*"))
        if path.is_file()
    }


def ledger_state(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What the ledger says was ingested, without run ids and times."""
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        return {
            "files": connection.execute(
                "SELECT sha256, path, size, rows, rated, rejected FROM ingested_files "
                "ORDER BY sha256"
            ).fetchall(),
            # The files' own checksums are compared through ``stored_files``; here, that
            # the ledger's agree with the files.
            "partitions": connection.execute(
                "SELECT path, sha256, kind, period, rows FROM partition_files ORDER BY path"
            ).fetchall(),
            "checksums_disagreeing": [
                path
                for path, checksum in connection.execute(
                    "SELECT path, checksum FROM partition_files ORDER BY path"
                )
                if checksum != hashlib.sha256((data_dir / path).read_bytes()).hexdigest()
            ],
            "totals": connection.execute(
                "SELECT * FROM file_totals ORDER BY sha256, period, currency"
            ).fetchall(),
            "periods": connection.execute(
                "SELECT period, status FROM periods ORDER BY period"
            ).fetchall(),
            "ok_runs_with_files": connection.execute(
                "SELECT count(*) FROM runs WHERE status = 'ok' AND files_new > 0"
            ).fetchall(),
        }


def store_state(data_dir: Path) -> dict[str, Any]:
    return {"files": stored_files(data_dir), "ledger": ledger_state(data_dir)}


def stored_frame(data_dir: Path, kind: str) -> pl.DataFrame:
    files = sorted((data_dir / kind).glob("*/*.parquet"))
    return pl.concat([pl.read_parquet(path) for path in files]) if files else pl.DataFrame()


def assert_no_partial_files(data_dir: Path) -> None:
    """Every file under a final name is complete: Parquet reads, JSON parses."""
    for path in data_dir.rglob("*.parquet"):
        if not path.name.startswith("."):
            pl.read_parquet(path)
    for path in (data_dir / "manifests").glob("*.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["run_id"] == path.stem


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    if not folder.exists():
        return {}
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
    }


def corrupt_parquet(path: Path, csv: Path = SAMPLE) -> Path:
    """A Parquet file of ``csv``'s rows whose header and footer read but whose data does
    not: only reading it whole fails, with an error that names no file."""
    pl.read_csv(csv, infer_schema=False).write_parquet(path, compression="uncompressed")
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[54 : len(data) - 8 - footer - 50] = b"\xff" * (len(data) - 8 - footer - 104)
    path.write_bytes(bytes(data))
    return path
