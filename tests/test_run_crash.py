"""A run killed with SIGKILL anywhere leaves nothing that looks complete; the next run
finishes the job with exactly the result of an uninterrupted run.

Each killed run is a real ``python -m cdr_rating run`` process. Kill points come from the
test-only hook ``CDR_RATING_TEST_KILL_AT`` (``cdr_rating.store.checkpoint``): between
every two writes, inside the ledger transaction, and between writing a temporary file
and renaming it; a few more runs are killed after a random delay.
"""

from __future__ import annotations

import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nightly import (
    assert_no_partial_files,
    killed_run,
    make_workspace,
    run_here,
    start_cli,
    store_state,
)

# Writes in a run of the workspace inbox: 3 rated files + their 3 call indexes, 3 rejects
# files, then the manifest before and after the ledger commit.
KILL_POINTS = [
    "locked",
    "orphans-removed",
    "temporary-written#1",
    "partition-written#1",
    "temporary-written#2",
    "temporary-written#6",
    "partition-written#4",
    "partitions-written",
    "temporary-written#10",
    "manifest-written",
    "ledger-in-transaction",
    "ledger-committed",
    "temporary-written#11",
]
RANDOM_KILLS = 3
PARALLEL = 4


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The config, and the store of an uninterrupted run to compare with."""
    folder = tmp_path_factory.mktemp("crash")
    config = make_workspace(folder)
    run_here(config, folder / "reference")
    return config, store_state(folder / "reference")


def test_every_kill_point_recovers_to_the_same_store(
    workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    config, reference = workspace
    points = {point: tmp_path / point.replace("#", "-") for point in KILL_POINTS}
    with ThreadPoolExecutor(PARALLEL) as pool:
        codes = dict(
            zip(
                points,
                pool.map(lambda p: killed_run(config, points[p], p), points),
                strict=True,
            )
        )

    assert codes == dict.fromkeys(points, -signal.SIGKILL), "every kill point was reached"
    for point, data_dir in points.items():
        assert_no_partial_files(data_dir)
        run_here(config, data_dir)
        assert store_state(data_dir) == reference, f"after a kill at {point}"


def test_random_kills_recover_to_the_same_store(
    workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    config, reference = workspace
    seed = random.randrange(1_000_000)
    delays = [random.Random(seed + i).uniform(0.5, 3.0) for i in range(RANDOM_KILLS)]

    def kill_after(index: int) -> int:
        process = start_cli(config, data_dir=tmp_path / str(index))
        time.sleep(delays[index])
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=120)
        return int(process.returncode)

    with ThreadPoolExecutor(PARALLEL) as pool:
        codes = list(pool.map(kill_after, range(RANDOM_KILLS)))

    for index, code in enumerate(codes):
        data_dir = tmp_path / str(index)
        assert code in (0, -signal.SIGKILL)
        assert_no_partial_files(data_dir)
        run_here(config, data_dir)
        context = f"seed {seed}, killed after {delays[index]:.2f} s (exit {code})"
        assert store_state(data_dir) == reference, context


def test_a_run_killed_twice_still_recovers(
    workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    config, reference = workspace
    data_dir = tmp_path / "var"

    assert killed_run(config, data_dir, "partition-written#2") == -signal.SIGKILL
    assert killed_run(config, data_dir, "ledger-in-transaction") == -signal.SIGKILL
    recovery = run_here(config, data_dir)

    assert recovery.orphans  # both killed runs left files behind
    assert store_state(data_dir) == reference


def test_a_killed_run_does_not_hold_the_lock(
    workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    config, _ = workspace
    process = start_cli(config, data_dir=tmp_path, CDR_RATING_TEST_PAUSE_AT="locked:60")
    deadline = time.monotonic() + 60
    while str(process.pid) not in _read(tmp_path / "run.lock"):
        assert time.monotonic() < deadline, "the run never took the lock"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)

    report = run_here(config, tmp_path)

    assert len(report.new) == 2


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
