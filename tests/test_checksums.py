"""Checksums of the data directory's files (issue 13, cases 2, 3 and 9): a damaged store
file stops the command that would bill from it, a damaged call index is rebuilt, a
final document is never overwritten, and a call re-sent across a period boundary is a
duplicate."""

from __future__ import annotations

import logging
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.cli import main
from cdr_rating.config import Settings
from cdr_rating.errors import StoredFileError
from cdr_rating.jobs.nightly import RunRequest, run_batch
from cdr_rating.jobs.verify import verify_data_dir
from cdr_rating.ledger import Ledger
from cdr_rating.store import DataDir, call_hash, file_sha256
from nightly import make_workspace, run_here, sample_rows, settings_for, write_cdrs


def fake_render_pdfs(jobs: list, templates_dir: Path, workers: int | None = None) -> None:
    """A stand-in for WeasyPrint: a small file per document, as fast as a test needs."""
    for document, path in jobs:
        path.write_bytes(f"%PDF-fake {document.number} {document.total}\n".encode())


@pytest.fixture(autouse=True)
def quick_pdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cdr_rating.render.render_pdfs", fake_render_pdfs)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``cdr-rating ARGS`` in this process: exit code, stdout, stderr."""
    capsys.readouterr()
    old = sys.argv
    sys.argv = ["cdr-rating", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
        # The command sent the package's logs to this test's stderr, and only there.
        logger = logging.getLogger("cdr_rating")
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    out, err = capsys.readouterr()
    return code, out, err


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= mask
    path.write_bytes(bytes(data))


def rated_file(data_dir: Path, period: str = "2026-10") -> Path:
    return sorted((data_dir / "rated" / f"period={period}").glob("*.parquet"))[0]


def final_invoices(data_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        return connection.execute(
            "SELECT number, account, total FROM invoices WHERE number IS NOT NULL ORDER BY number"
        ).fetchall()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    config = make_workspace(tmp_path)
    run_here(config)
    return config


def test_a_damaged_rated_file_stops_the_close_naming_it(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 2: two flipped bits in a stored partition used to be invoiced silently."""
    data_dir = workspace.parent / "var"
    damaged = rated_file(data_dir)
    flip(damaged, 200, 0x05)

    code, _, err = cli(capsys, "run", "--config", str(workspace), "--period", "2026-10", "--close")

    assert code == 3
    [line] = [line for line in err.splitlines() if "damaged" in line]
    assert str(damaged) in line
    assert "restore it from a backup" in line
    assert final_invoices(data_dir) == []


def test_close_checks_the_files_against_their_recorded_totals(workspace: Path) -> None:
    """The file agrees with its checksum, but not with what the ledger recorded it
    holds: closing stops before invoicing anything."""
    data_dir = workspace.parent / "var"
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        connection.execute("UPDATE file_totals SET charge = '43.9018' WHERE period = '2026-10'")

    with pytest.raises(
        StoredFileError, match=r"calls add up to EUR .* ledger recorded EUR 43\.9018"
    ):
        run_here(workspace, period="2026-10", close=True)
    assert final_invoices(data_dir) == []


def test_a_file_stored_before_checksums_gets_one_on_its_first_verified_read(
    workspace: Path,
) -> None:
    data_dir = workspace.parent / "var"
    path = rated_file(data_dir)
    relative = path.relative_to(data_dir).as_posix()
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        connection.execute("UPDATE partition_files SET checksum = NULL")

    run_here(workspace, period="2026-10", close=True)

    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        [(recorded,)] = connection.execute(
            "SELECT checksum FROM partition_files WHERE path = ?", (relative,)
        ).fetchall()
    assert recorded == file_sha256(path)


def test_a_file_stored_before_checksums_whose_charges_changed_is_refused(
    workspace: Path,
) -> None:
    """Without a checksum to compare, the first read checks the file's totals."""
    data_dir = workspace.parent / "var"
    path = rated_file(data_dir)
    calls = pl.read_parquet(path)
    calls.with_columns(charge=pl.col("charge") * 2).write_parquet(path)
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        connection.execute("UPDATE partition_files SET checksum = NULL")

    with pytest.raises(StoredFileError, match=f"{path}: damaged: its calls add up to"):
        run_here(workspace, period="2026-10", close=True)


def resend(workspace: Path, rows: list[str], name: str) -> None:
    """The same calls again, in a file with other content (so not skipped as seen)."""
    write_cdrs(workspace.parent / "inbox" / name, [*rows, rows[0]])


def test_a_damaged_call_index_is_rebuilt_and_the_resent_calls_are_duplicates(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 3: one flipped bit in the index used to let a re-sent call be stored twice."""
    data_dir = workspace.parent / "var"
    _, rows = sample_rows()
    data = DataDir(data_dir)
    stored_in = next(
        path
        for path in (data_dir / "rated" / "period=2026-10").glob("*.parquet")
        if "20261001-0001" in pl.read_parquet(path).get_column("call_id").to_list()
    )
    index = data.index_of(stored_in)
    wanted = pl.select(call_hash(pl.lit("20261001-0001"))).item().to_bytes(8, "little")
    flip(index, index.read_bytes().index(wanted), 0x01)

    resend(workspace, rows[:40], "resent.csv")
    with caplog.at_level(logging.WARNING):
        report = run_here(workspace)

    assert any(f"{index}: call index damaged" in record.getMessage() for record in caplog.records)
    assert report.rated == 0
    assert report.duplicates_stored == pl.read_parquet(stored_in).height
    stored = pl.concat(
        pl.read_parquet(path) for path in (data_dir / "rated").glob("*/*.parquet")
    ).get_column("call_id")
    assert stored.to_list().count("20261001-0001") == 1
    with Ledger.open(data.ledger) as ledger:
        assert verify_data_dir(ledger, data) == []  # the rebuilt index is recorded


def boundary_settings(config: Path, window: timedelta | None = None) -> Settings:
    settings = settings_for(config)
    if window is None:
        return settings
    return settings.model_copy(
        update={"input": settings.input.model_copy(update={"duplicate_window": window})}
    )


X1 = "X-1,ACME-001,+493023125001,+49 30 23125777,{start},95,ANSWERED"


@pytest.mark.parametrize(
    ("resent_start", "window", "duplicate"),
    [
        ("2026-11-01T00:00:10+01:00", None, True),  # 40 s later, across the boundary
        ("2026-11-03T00:00:10+01:00", None, False),  # beyond the day's window
        ("2026-11-01T00:00:10+01:00", timedelta(0), False),  # window turned off
    ],
)
def test_a_call_resent_across_a_period_boundary_is_a_duplicate(
    tmp_path: Path, resent_start: str, window: timedelta | None, duplicate: bool
) -> None:
    """Case 9: X-1 at 2026-10-31T23:59:30+01:00, re-sent starting 40 s later, in
    November, used to be rated twice."""
    config = make_workspace(tmp_path)
    for path in (tmp_path / "inbox").iterdir():
        path.unlink()
    settings = boundary_settings(config, window)
    write_cdrs(tmp_path / "inbox" / "first.csv", [X1.format(start="2026-10-31T23:59:30+01:00")])
    first = run_batch(settings, RunRequest())
    assert (first.rated, first.periods) == (1, ["2026-10"])

    write_cdrs(tmp_path / "inbox" / "again.csv", [X1.format(start=resent_start)])
    again = run_batch(settings, RunRequest())

    assert again.duplicates_stored == (1 if duplicate else 0)
    assert again.rated == (0 if duplicate else 1)
    if duplicate:
        rejects = pl.concat(
            pl.read_parquet(path) for path in (tmp_path / "var" / "rejects").glob("*/*.parquet")
        )
        [message] = rejects.filter(pl.col("reason") == "duplicate").get_column("message")
        assert "already stored for period 2026-10" in message


@pytest.fixture
def closed(workspace: Path) -> Path:
    run_here(workspace, period="2026-10", close=True)
    return workspace


def test_a_rendered_document_is_kept_and_a_damaged_one_stops_the_close(closed: Path) -> None:
    data_dir = closed.parent / "var"
    pdf = sorted((data_dir / "invoices" / "2026-10").glob("*.pdf"))[0]
    before = pdf.stat().st_mtime_ns

    again = run_here(closed, period="2026-10", close=True)
    assert again.invoices is not None
    assert again.invoices.rendered == 0
    assert pdf.stat().st_mtime_ns == before

    flip(pdf, 3)
    with pytest.raises(StoredFileError, match=f"{pdf}: damaged"):
        run_here(closed, period="2026-10", close=True)
    pdf.unlink()  # the recovery: rendered again from the ledger
    fixed = run_here(closed, period="2026-10", close=True)
    assert fixed.invoices is not None
    assert fixed.invoices.rendered == 1
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        assert verify_data_dir(ledger, DataDir(data_dir)) == []


def test_a_final_document_never_overwrites_another_file(workspace: Path) -> None:
    """A file already where an invoice's PDF goes (one sent before the ledger was lost,
    say) stays as it is: the close stops, naming it."""
    data_dir = workspace.parent / "var"
    folder = data_dir / "invoices" / "2026-10"
    folder.mkdir(parents=True)
    sent = folder / "INV-2026-000001.pdf"
    sent.write_bytes(b"%PDF a document already sent\n")

    with pytest.raises(StoredFileError, match=f"{sent}: a different file is already there"):
        run_here(workspace, period="2026-10", close=True)
    assert sent.read_bytes() == b"%PDF a document already sent\n"


def test_a_void_renders_again_and_records_the_new_checksum(
    closed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = closed.parent / "var"
    [(number, _, _), *_] = final_invoices(data_dir)
    code, _, err = cli(
        capsys, "invoice", "void", number, "--reason", "wrong address", "--config", str(closed)
    )
    assert code == 0, err
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        assert verify_data_dir(ledger, DataDir(data_dir)) == []


def test_verify_data_dir_names_every_damaged_or_missing_file(closed: Path) -> None:
    data_dir = closed.parent / "var"
    data = DataDir(data_dir)
    rated = rated_file(data_dir)
    index = data.index_of(rated_file(data_dir, "2026-11"))
    pdf = sorted((data_dir / "invoices" / "2026-10").glob("*.pdf"))[1]
    appendix = next((data_dir / "invoices" / "2026-10").glob("calls-*.parquet"))
    for path in (rated, index, appendix):
        flip(path, 100)
    pdf.unlink()

    with Ledger.open(data.ledger) as ledger:
        problems = verify_data_dir(ledger, data)

    assert problems == [
        f"{rated}: damaged: its sha256 differs from the one the ledger recorded when it was "
        "written; restore it from a backup of the data directory, then run the command again",
        f"{index}: call index damaged; the next run rebuilds it from its rated file",
        f"{appendix}: damaged: its sha256 differs from the one the ledger recorded when it "
        "was written; restore it from a backup of the data directory, then run the command "
        "again",
        f"{pdf}: missing, but the ledger lists it as stored; restore it from a backup of the "
        "data directory, then run the command again",
    ]


def test_documents_rendered_before_checksums_get_theirs_at_the_next_close(closed: Path) -> None:
    data_dir = closed.parent / "var"
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        connection.execute("UPDATE invoices SET pdf_checksum = NULL, html_checksum = NULL")

    run_here(closed, period="2026-10", close=True)

    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        rows = connection.execute(
            "SELECT pdf, pdf_checksum, html, html_checksum FROM invoices WHERE pdf IS NOT NULL"
        ).fetchall()
    assert rows
    for pdf, pdf_checksum, html, html_checksum in rows:
        assert pdf_checksum == file_sha256(data_dir / pdf)
        assert html_checksum == file_sha256(data_dir / html)


def test_a_damaged_pdf_is_not_shown(closed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = closed.parent / "var"
    [(number, _, _), *_] = final_invoices(data_dir)
    pdf = data_dir / "invoices" / "2026-10" / f"{number}.pdf"
    flip(pdf, 5)

    code, out, err = cli(
        capsys, "invoice", "show", number, "--format", "pdf", "--config", str(closed)
    )

    assert code == 3
    assert out == ""
    assert f"{pdf}: damaged" in err
