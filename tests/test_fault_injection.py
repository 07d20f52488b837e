"""Fault injection: random bytes flipped in every kind of stored file never cost money.

A closed demo month is the starting point. For each kind of file (rated and rejects
partitions, call index files, run manifests, final documents: PDF, HTML and itemised
calls), seeded random bytes are flipped one at a time, each in a fresh copy of the data
directory, and a command runs on it (the commands take turns): ``run --close`` (which
also ingests a re-sent file, so the call index matters), ``invoice preview``, ``rerate``
and ``explain --period``. Each must either stop with exit 3 and a line naming the
flipped file, or print exactly what it prints on the undamaged copy. (PDFs are written
by a fast stand-in and the rating plan is loaded once: neither is what is tested here.)
"""

from __future__ import annotations

import functools
import random
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cdr_rating.jobs import setup
from nightly import NOVEMBER, make_workspace, run_here, sample_rows, write_cdrs
from test_checksums import cli, fake_render_pdfs

PERIOD = "2026-10"
POSITIONS = 16  # per kind of file (80 in all); the commands take turns
KINDS = {
    "rated": ("rated/*/*.parquet",),
    "rejects": ("rejects/*/*.parquet",),
    "index": ("index/*/*/*.parquet",),
    "manifest": ("manifests/*.json",),
    "document": ("invoices/*/*.pdf", "invoices/*/*.html", "invoices/*/calls-*.parquet"),
}


def commands(config: Path) -> dict[str, list[str]]:
    where = ["--config", str(config)]
    return {
        "run --close": ["run", *where, "--period", PERIOD, "--close", "--log-format", "text"],
        "invoice preview": [
            "invoice",
            "preview",
            "ACME-001",
            "--period",
            PERIOD,
            "--format",
            "json",
            *where,
        ],
        "rerate": ["rerate", "--period", PERIOD, "--format", "json", *where],
        "explain --period": ["explain", "20261001-0001", "--period", PERIOD, *where],
    }


def outcome(data_dir: Path, command: str, code: int, out: str, err: str) -> Any:
    """What a command's result is made of: its output, or for a run the ledger's
    invoices and what it rated (a run id and times differ between runs)."""
    if command != "run --close":
        return code, out
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        invoices = connection.execute(
            "SELECT number, account, status, total FROM invoices ORDER BY invoice_id"
        ).fetchall()
        totals = connection.execute(
            "SELECT period, currency, sum(calls), group_concat(charge) FROM file_totals "
            "GROUP BY period, currency ORDER BY period, currency"
        ).fetchall()
    counted = ("read ", "rejected by reason", "duplicates", "total ", "invoices for")
    return code, invoices, totals, [line for line in err.splitlines() if line.startswith(counted)]


@pytest.fixture
def month(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("cdr_rating.render.render_pdfs", fake_render_pdfs)
    # The sheets and accounts do not change here: load them once, not in every command.
    monkeypatch.setattr(setup, "plan_from_files", functools.cache(setup.plan_from_files))
    config = make_workspace(tmp_path / "work")
    run_here(config)
    run_here(config, period=PERIOD, close=True)
    _, rows = sample_rows()
    # Re-sent calls of both periods, and one new call: the next run checks the index.
    write_cdrs(tmp_path / "work" / "inbox" / "resent.csv", [*rows[:5], NOVEMBER])
    return config


def test_flipped_bytes_stop_a_command_or_change_nothing(
    month: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = month.parent / "var"
    pristine = month.parent / "pristine"
    shutil.copytree(base, pristine)
    names = commands(month)

    def fresh() -> None:
        shutil.rmtree(base)
        shutil.copytree(pristine, base)

    expected = {}
    for name, args in names.items():
        fresh()
        done = cli(capsys, *args)
        assert done[0] == 0, done
        expected[name] = outcome(base, name, *done)
    fresh()

    rng = random.Random(13)
    turn = 0
    stopped: dict[str, int] = {}
    for kind, patterns in KINDS.items():
        files = sorted(path for pattern in patterns for path in pristine.glob(pattern))
        assert files, kind
        for _ in range(POSITIONS):
            victim = base / rng.choice(files).relative_to(pristine)
            data = bytearray(victim.read_bytes())
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            victim.write_bytes(bytes(data))
            name = list(names)[turn % len(names)]
            turn += 1
            code, out, err = cli(capsys, *names[name])
            if code == 3:
                assert str(victim) in err, (kind, name, err)
                stopped[kind] = stopped.get(kind, 0) + 1
            else:
                assert outcome(base, name, code, out, err) == expected[name], (kind, name, victim)
            if name == "run --close":
                fresh()
            else:  # the other commands write nothing in the data directory
                shutil.copy2(pristine / victim.relative_to(base), victim)
    # Damage to what bills is always caught; the index is rebuilt; the rest is not read.
    assert stopped.get("rated", 0) > 0
    assert "index" not in stopped
    assert "manifest" not in stopped
