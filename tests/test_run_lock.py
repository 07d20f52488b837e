"""One run at a time: a second run exits 75 naming the holder; nothing is ingested twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from cdr_rating.errors import ExitCode
from cdr_rating.store import RunLock
from nightly import ledger_state, make_workspace, run_cli, start_cli


def test_a_run_while_the_lock_is_held_exits_75(tmp_path: Path) -> None:
    config = make_workspace(tmp_path)

    with RunLock(tmp_path / "var"):
        done = run_cli(config, "--log-format", "text")

    assert done.returncode == ExitCode.LOCKED
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"cdr-rating: error: another run (pid {os.getpid()}, started ")
    assert line.endswith(f"holds the lock on {tmp_path / 'var'}; try again later")
    assert not (tmp_path / "var" / "ledger.sqlite").exists()


def test_two_simultaneous_runs_one_waits_its_turn(tmp_path: Path) -> None:
    config = make_workspace(tmp_path)
    # Both pause for a while once they hold the lock, so that their runs overlap.
    runs = [
        start_cli(config, "--log-format", "json", CDR_RATING_TEST_PAUSE_AT="locked:3")
        for _ in range(2)
    ]
    results = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]

    codes = sorted(code for code, _ in results)
    assert codes == [0, ExitCode.LOCKED], results
    refused = next(stderr for code, stderr in results if code == ExitCode.LOCKED)
    assert '"exit_status": 75' in refused
    assert "holds the lock on" in refused
    state = ledger_state(tmp_path / "var")
    assert len(state["files"]) == 2
    assert state["ok_runs_with_files"] == [(1,)]


def test_the_lock_file_names_the_holder(tmp_path: Path) -> None:
    config = make_workspace(tmp_path)
    run = start_cli(config, CDR_RATING_TEST_PAUSE_AT="locked:60")
    lock = tmp_path / "var" / "run.lock"
    deadline = time.monotonic() + 60
    while f'"pid": {run.pid}' not in (lock.read_text() if lock.exists() else ""):
        assert time.monotonic() < deadline, "the run never took the lock"
        time.sleep(0.05)

    second = run_cli(config, "--log-format", "text")
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)

    assert second.returncode == ExitCode.LOCKED
    assert f"another run (pid {run.pid}, started " in second.stderr
