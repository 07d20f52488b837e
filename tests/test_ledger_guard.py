"""The ledger is the source of truth: a lost ledger stops every command instead of being
replaced by an empty one; backups, restore and check (issue 13, case 1)."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from cdr_rating.errors import ExitCode, LockHeldError
from cdr_rating.jobs import books
from cdr_rating.jobs.close import preview
from cdr_rating.jobs.invoices import invoices
from cdr_rating.jobs.rerate import rerate
from cdr_rating.ledger import Ledger, LedgerUnavailableError
from cdr_rating.store import RunLock
from nightly import NOVEMBER, run_here, settings_for, tree, write_cdrs
from test_invoices import PERIOD, cli, make_billing_workspace


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A workspace whose October is closed (three invoices), never to be changed."""
    folder = tmp_path_factory.mktemp("guard")
    config = make_billing_workspace(folder)
    run_here(config, period=PERIOD, close=True)
    return config, folder / "var"


@pytest.fixture
def books_copy(closed: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    config, data_dir = closed
    copy = tmp_path / "var"
    shutil.copytree(data_dir, copy)
    return config, copy


def _books(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file but the run lock, which each command takes (and stamps)."""
    return {path: stat for path, stat in tree(data_dir).items() if path != "run.lock"}


def _lose(ledger: Path, how: str) -> None:
    for suffix in ("-wal", "-shm"):
        ledger.with_name(ledger.name + suffix).unlink(missing_ok=True)
    if how == "missing":
        ledger.unlink()
    elif how == "empty":
        ledger.write_bytes(b"")
    else:
        ledger.write_bytes(b"not a database " * 100)


@pytest.mark.parametrize("how", ["empty", "missing", "garbage"])
def test_a_lost_ledger_stops_every_command_and_changes_nothing(
    books_copy: tuple[Path, Path], how: str
) -> None:
    config, data_dir = books_copy
    settings = settings_for(config, data_dir)
    _lose(data_dir / "ledger.sqlite", how)
    before = _books(data_dir)

    commands = {
        "run": lambda: run_here(config, data_dir),
        "close": lambda: run_here(config, data_dir, period=PERIOD, close=True),
        "dry run": lambda: run_here(config, data_dir, dry_run=True),
        "invoice list": lambda: invoices(settings),
        "preview": lambda: preview(settings, "ACME-001", PERIOD),
        "rerate": lambda: rerate(settings, PERIOD),
        "rerate --apply": lambda: rerate(settings, PERIOD, apply_reason="x"),
        "ledger check": lambda: books.check(settings),
        "ledger backup": lambda: books.backup(settings, data_dir.parent / "bk"),
    }
    if how != "empty":  # every command opens the ledger the same way: two suffice
        commands = {name: commands[name] for name in ("run", "invoice list")}
    for name, command in commands.items():
        with pytest.raises(LedgerUnavailableError) as caught:
            command()
        assert caught.value.exit_code == ExitCode.INPUT, name
        assert "cdr-rating ledger restore" in str(caught.value), name

    assert _books(data_dir) == before  # no file removed, no invoice overwritten, no new ledger


def test_the_command_says_what_it_found_and_how_to_restore(
    books_copy: tuple[Path, Path],
) -> None:
    config, data_dir = books_copy
    _lose(data_dir / "ledger.sqlite", "empty")

    done = cli(config, data_dir, "run", "--log-format", "text")

    assert done.returncode == ExitCode.INPUT
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"cdr-rating: error: {data_dir / 'ledger.sqlite'}: the ledger is empty")
    assert "the data directory holds the books' files" in line
    assert f"restore FILE' (the nightly backups are in {data_dir / 'backups'})" in line
    assert "removed" not in done.stderr


def test_a_fresh_data_directory_still_gets_a_new_ledger(tmp_path: Path) -> None:
    config = make_billing_workspace(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "run.lock").write_text("")  # the lock is no evidence of books

    report = run_here(config)

    assert report.rated > 0


def test_backup_lose_restore_and_continue(books_copy: tuple[Path, Path], tmp_path: Path) -> None:
    config, data_dir = books_copy
    settings = settings_for(config, data_dir)
    (nightly,) = (data_dir / "backups").glob("ledger-*.sqlite")  # the closing run made it
    backup = books.backup(settings, tmp_path / "backups")
    assert backup.name.startswith("ledger-")
    assert backup.suffix == ".sqlite"
    october = {p.name: p.read_bytes() for p in (data_dir / "invoices" / PERIOD).glob("INV-*")}
    write_cdrs(config.parent / "inbox" / "november.csv", [NOVEMBER])
    november = run_here(config, data_dir)
    assert [f.name for f in november.new] == ["november.csv"]
    assert november.backup is not None
    assert november.backup.parent == data_dir / "backups"
    assert november.summary_lines()[-1] == f"ledger backed up to {november.backup}"

    _lose(data_dir / "ledger.sqlite", "garbage")
    restored = cli(config, data_dir, "ledger", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert restored.stderr.splitlines()[-1] == f"restored the ledger from {backup}"

    again = run_here(config, data_dir)  # only what the backup did not know
    assert [f.name for f in again.new] == ["november.csv"]
    assert [f.name for f in again.skipped] == ["2026-10-01.csv"]
    assert again.orphans == []
    close = run_here(config, data_dir, period="2026-11", close=True)
    assert close.invoices is not None
    numbers = [record.number for record in close.invoices.issued]
    assert numbers[0] == "INV-2026-000004"  # October issued 1 to 3
    assert numbers == [f"INV-2026-{n:06d}" for n in range(4, 4 + len(numbers))]
    assert {
        p.name: p.read_bytes() for p in (data_dir / "invoices" / PERIOD).glob("INV-*")
    } == october
    checked = cli(config, data_dir, "ledger", "check")
    assert checked.returncode == 0, checked.stderr
    assert f"ok: {len(books.CHECKS)} checks" in checked.stderr
    assert nightly.exists()


def test_the_nightly_run_keeps_the_newest_backups(
    books_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    config, data_dir = books_copy
    settings = settings_for(config, data_dir)
    kept = settings.model_copy(
        update={"ledger": settings.ledger.model_copy(update={"backups": 2, "backup_dir": tmp_path})}
    )
    off = settings.model_copy(update={"ledger": settings.ledger.model_copy(update={"backups": 0})})
    with Ledger.open(data_dir / "ledger.sqlite") as ledger:
        made = [books.rotate_backups(kept, ledger) for _ in range(3)]
        assert books.rotate_backups(off, ledger) is None
        partitions = ledger.partition_files()

    assert sorted(tmp_path.glob("ledger-*.sqlite")) == sorted(made[1:])
    with Ledger.open(made[-1], create=False) as copy:  # type: ignore[arg-type]
        assert copy.integrity_problems() == []
        assert copy.partition_files() == partitions


def test_restore_refuses_a_damaged_backup_and_a_held_lock(
    books_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    config, data_dir = books_copy
    settings = settings_for(config, data_dir)
    ledger = data_dir / "ledger.sqlite"
    before = ledger.read_bytes()
    damaged = tmp_path / "ledger-x.sqlite"
    damaged.write_bytes(b"\0" * 4096)

    refused = cli(config, data_dir, "ledger", "restore", str(damaged))
    assert refused.returncode == ExitCode.INPUT
    assert refused.stderr.startswith(f"cdr-rating: error: {damaged}: ")
    assert ledger.read_bytes() == before
    assert [p.name for p in data_dir.glob(".*restore*")] == []
    good = books.backup(settings, tmp_path)
    with RunLock(data_dir), pytest.raises(LockHeldError):
        books.restore(settings, good)
    assert ledger.read_bytes() == before


def test_check_names_every_problem(books_copy: tuple[Path, Path]) -> None:
    config, data_dir = books_copy
    partition = next((data_dir / "rated").glob("*/*.parquet"))
    partition.unlink()
    pdf = data_dir / "invoices" / PERIOD / "INV-2026-000002.pdf"
    pdf.unlink()
    stray = data_dir / "invoices" / PERIOD / "INV-2026-000009.pdf"
    stray.write_bytes(b"%PDF issued by a ledger since lost")
    flipped = data_dir / "invoices" / PERIOD / "INV-2026-000001.pdf"
    content = bytearray(flipped.read_bytes())
    content[len(content) // 2] ^= 0x10
    flipped.write_bytes(bytes(content))
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        connection.execute(
            "UPDATE sequences SET last_value = last_value + 2 WHERE name = 'INV-2026'"
        )

    checked = cli(config, data_dir, "ledger", "check")

    assert checked.returncode == ExitCode.INPUT
    assert checked.stderr.splitlines() == [
        f"cdr-rating: error: {partition}: stored rated file of period {PERIOD} is missing; "
        "restore it from a backup of the data directory",
        f"cdr-rating: error: {pdf}: file of INV-2026-000002 is missing; the next run --close "
        "or rerate --apply renders it again",
        f"cdr-rating: error: {stray}: an issued document the ledger does not know (restored "
        "from an older backup?); do not close its period again before restoring a newer backup",
        f"cdr-rating: error: {data_dir / 'ledger.sqlite'}: series INV-2026: 2 numbers issued "
        "but not in the ledger (first INV-2026-000004)",
        f"cdr-rating: error: {flipped}: damaged: its sha256 differs from the one the ledger "
        "recorded when it was written; restore it from a backup of the data directory, then "
        "run the command again",
    ]


def test_a_snapshot_that_cannot_open_leaves_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    ledger = tmp_path / "ledger.sqlite"
    ledger.write_bytes(b"garbage " * 512)

    with pytest.raises(LedgerUnavailableError, match="cannot read the ledger"):
        Ledger.snapshot(ledger)
    with pytest.raises(LedgerUnavailableError, match="the ledger is missing"):
        Ledger.snapshot(tmp_path / "none.sqlite", create=False)
    assert list((tmp_path / "tmp").iterdir()) == []
