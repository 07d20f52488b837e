"""Render workers die with their parent: a ``run --close`` killed while rendering
leaves no process behind (issue 13, case 8)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nightly import cli_env
from test_invoices import PERIOD, make_billing_workspace

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _processes() -> dict[int, tuple[str, int, int]]:
    """``pid: (state, ppid, process group)`` of every live process."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, ppid, group = text.rpartition(")")[2].split()[:3]
        if state != "Z":  # a zombie has exited; only its exit status is left
            found[int(stat.parent.name)] = (state, int(ppid), int(group))
    return found


def test_a_killed_close_leaves_no_render_worker(tmp_path: Path) -> None:
    config = make_billing_workspace(tmp_path)
    command = [sys.executable, "-m", "cdr_rating", "run", "--period", PERIOD, "--close"]
    parent = subprocess.Popen(
        [*command, "--config", str(config)],
        env=cli_env(
            tmp_path / "var",
            CDR_RATING__BILLING__RENDER_WORKERS="2",
            CDR_RATING_TEST_PAUSE_AT="pdf-rendering:60",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: everything it started is in it
    )
    deadline = time.monotonic() + 90
    while len([p for p, (_, ppid, _) in _processes().items() if ppid == parent.pid]) < 2:
        assert parent.poll() is None, "the run ended before rendering"
        assert time.monotonic() < deadline, "the run never started its render workers"
        time.sleep(0.1)
    time.sleep(1)  # the workers are in their first render (paused)

    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)

    deadline = time.monotonic() + 5
    left = {p: s for p, s in _processes().items() if s[2] == parent.pid}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p: s for p, s in _processes().items() if s[2] == parent.pid}
    assert left == {}, "processes outlived the killed run"
    assert list((tmp_path / "var" / "invoices" / PERIOD).glob("INV-*.pdf")) == []
