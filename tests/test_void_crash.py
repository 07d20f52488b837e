"""A void killed at any step ends, after the next command, as an uninterrupted one:
either nothing is void, or the invoice is void and its HTML and PDF say so (issue 13,
case 7)."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nightly import cli_env, run_here
from test_invoices import PERIOD, make_billing_workspace

NUMBER = "INV-2026-000002"
# Every step of jobs.invoices.void: the journal, the commit, the HTML (its temporary
# file, then in place), the PDF's temporary file, the rendering recorded.
AFTER_COMMIT = [
    "void-committed",
    "temporary-written#1",
    "html-written",
    "temporary-written#2",
    "void-rendered",
]
KILL_POINTS = ["journal-temporary-written", "void-journal-written", *AFTER_COMMIT]

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext")


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("void")
    config = make_billing_workspace(folder)
    run_here(config, period=PERIOD, close=True)
    return config, folder / "var"


def _void(config: Path, data_dir: Path, **extra: str) -> int:
    command = [sys.executable, "-m", "cdr_rating", "invoice", "void", NUMBER]
    command += ["--reason", "wrong address", "--config", str(config)]
    done = subprocess.run(
        command, env=cli_env(data_dir, **extra), capture_output=True, timeout=120, check=False
    )
    return done.returncode


def _status(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        (status,) = connection.execute(
            "SELECT status FROM invoices WHERE number = ?", (NUMBER,)
        ).fetchone()
    return str(status)


def _pdf_text(data_dir: Path) -> str:
    pdf = data_dir / "invoices" / PERIOD / f"{NUMBER}.pdf"
    return subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_every_void_step_is_finished_or_undone_by_the_next_command(
    closed: tuple[Path, Path], tmp_path: Path
) -> None:
    config, data_dir = closed
    assert "VOID" not in _pdf_text(data_dir)
    copies = {point: tmp_path / point.replace("#", "-") for point in KILL_POINTS}
    for copy in copies.values():
        shutil.copytree(data_dir, copy)

    with ThreadPoolExecutor(4) as pool:
        codes = dict(
            zip(
                copies,
                pool.map(lambda p: _void(config, copies[p], CDR_RATING_TEST_KILL_AT=p), copies),
                strict=True,
            )
        )
    assert codes == dict.fromkeys(copies, -signal.SIGKILL), "every kill point was reached"
    assert "VOID" not in _pdf_text(copies["void-committed"])  # the defect of case 7

    for point, copy in copies.items():
        run_here(config, copy)  # the next command finishes or drops the void
        void = point in AFTER_COMMIT
        assert _status(copy) == ("void" if void else "final"), point
        assert ("VOID" in _pdf_text(copy)) is void, point
        html = (copy / "invoices" / PERIOD / f"{NUMBER}.html").read_text(encoding="utf-8")
        assert ("VOID — this document is cancelled: wrong address" in html) is void, point
        assert list((copy / "journal").iterdir()) == [], point
