"""bench_period.py still runs end to end (ingest, bill, rerate) on a tiny month.

``ingest`` and ``rerate`` are the real commands (``cdr-rating run``, ``cdr-rating
rerate``) in child processes; ``bill`` is ``bill_in_process`` in a child. A step the
memory limit stops is reported as failed, and the steps after a failed ingest are not
run; the JSON says so instead of the script crashing.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
CALLS = 2000


@pytest.fixture
def bench_period(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("bench_period")


def rows_of(table: str) -> dict[str, str]:
    return {line.split("|")[1].strip(): line for line in table.splitlines() if line[:2] == "| "}


def test_bench_period_runs_every_step(
    bench_period: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found_json = tmp_path / "period.json"
    arguments = ["--calls", str(CALLS), "--out", str(tmp_path), "--json", str(found_json)]
    assert bench_period.main([*arguments, "--prefixes", "300"]) == 0

    rows = rows_of(capsys.readouterr().out)
    assert {"ingest", "bill", "rerate"} <= set(rows)
    assert "10000 bills" in rows["bill"]
    assert "x the ingest's rating steps" in rows["bill"]
    assert "(0 calls changed)" in rows["rerate"]
    assert "failed" not in "".join(rows.values())

    found = json.loads(found_json.read_text())
    steps = {row["measurement"]: row for row in found["rows"]}
    assert list(steps) == ["ingest", "bill", "rerate"]
    assert steps["ingest"]["calls"] == CALLS
    # rating_s is the manifest's plan + rate + rejects: a part of the run's wall time.
    assert 0 < steps["ingest"]["rating_s"] < steps["ingest"]["wall_s"]
    # rerate re-rates every stored call: those read, less the duplicates.
    assert 0 < steps["rerate"]["calls"] == steps["ingest"]["stored_calls"] < CALLS
    assert steps["rerate"]["accounts"] == bench_period.ACCOUNTS
    assert steps["bill"]["bills"] == bench_period.ACCOUNTS
    assert 0 < steps["bill"]["calls"] <= steps["rerate"]["calls"]
    for row in steps.values():
        assert row["wall_s"] > 0
        assert row["cpu_s"] > 0
        assert row["peak_rss_mib"] > 10
        assert row["calls_per_s"] > 0
    assert found["failed"] == {}
    rating = steps["ingest"]["rating_s"]
    assert found["bill_over_rating"] == pytest.approx(steps["bill"]["wall_s"] / rating)
    assert found["rerate_over_rating"] == pytest.approx(steps["rerate"]["wall_s"] / rating)
    assert found["rerate_over_ingest"] == pytest.approx(
        steps["rerate"]["wall_s"] / steps["ingest"]["wall_s"]
    )
    manifests = list((tmp_path / f"period-{CALLS}" / "var" / "manifests").glob("*.json"))
    assert len(manifests) == 1  # the ingest ran on an empty data folder


def test_a_step_over_the_memory_limit_is_reported_failed(
    bench_period: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found_json = tmp_path / "period.json"
    arguments = ["--calls", str(CALLS), "--out", str(tmp_path), "--json", str(found_json)]
    # 20 MiB: less than any Python process, so the ingest is stopped at once.
    assert bench_period.main([*arguments, "--prefixes", "300", "--rss-limit-mib", "20"]) == 1

    rows = rows_of(capsys.readouterr().out)
    assert "failed: stopped: memory passed the 20 MiB limit" in rows["ingest"]
    assert "failed: not run: ingest failed" in rows["bill"]
    found = json.loads(found_json.read_text())
    steps = {row["measurement"]: row for row in found["rows"]}
    assert steps["ingest"]["stopped_over_rss_limit"] is True
    assert steps["ingest"]["wall_s"] > 0
    assert set(found["failed"]) == {"ingest", "bill", "rerate"}
    assert found["bill_over_rating"] is None
    assert found["rerate_over_rating"] is None
    assert found["rss_limit_mib"] == 20
