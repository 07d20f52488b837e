"""The run's journal: killed while writing it or just after, the next run removes what
it names and nothing else; a full disk is one line naming the file, and the run is
recorded as failed (issue 13, cases 1 and 12)."""

from __future__ import annotations

import json
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nightly import killed_run, make_workspace, run_cli, run_here, store_state

KILL_POINTS = [
    "journal-temporary-written#1",
    "journal-written#1",  # the slice's files and the manifest are named, none written yet
    "ledger-committed",  # the journal names files the ledger has committed: they stay
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("journal")
    config = make_workspace(folder)
    run_here(config, folder / "reference")
    return config, store_state(folder / "reference")


def test_every_journal_kill_point_recovers_to_the_same_store(
    workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    config, reference = workspace
    dirs = {point: tmp_path / point.replace("#", "-") for point in KILL_POINTS}
    with ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda p: killed_run(config, dirs[p], p), dirs))
    assert codes == [-signal.SIGKILL] * len(dirs)
    (journal,) = (dirs["journal-written#1"] / "journal").glob("run-*.json")
    named = json.loads(journal.read_text(encoding="utf-8"))["entries"]
    assert named[0].startswith("manifests/")
    assert {entry.split("/")[0] for entry in named[1:]} == {"rated", "rejects"}

    for point, data_dir in dirs.items():
        report = run_here(config, data_dir)
        assert store_state(data_dir) == reference, point
        assert list((data_dir / "journal").iterdir()) == [], point
        assert len(report.new) == (0 if point == "ledger-committed" else 2), point


def test_a_full_disk_names_the_file_and_the_run_is_recorded_failed(
    workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    config, reference = workspace
    data_dir = tmp_path / "var"
    # The 11th atomic write is the manifest after the ledger commit; the disk stays full.
    full = run_cli(config, data_dir=data_dir, CDR_RATING_TEST_DISK_FULL_AT="temporary-written#11")

    assert full.returncode == 1
    errors = [line for line in full.stderr.splitlines() if '"level": "error"' in line]
    (error,) = errors
    message = json.loads(error)["message"]
    assert message.startswith(f"{data_dir / 'manifests'}/")
    assert ".json: cannot write it: No space left on device; free space" in message
    assert "unexpected" not in full.stderr
    with sqlite3.connect(data_dir / "ledger.sqlite") as connection:
        runs = connection.execute("SELECT status, exit_status FROM runs").fetchall()
    assert runs == [("failed", 1)]
    assert list(data_dir.rglob(".*.tmp")) == []

    again = run_here(config, data_dir)  # space again: the ingested files stay ingested
    assert again.new == []
    assert store_state(data_dir)["files"] == reference["files"]
