"""How long the test suite takes: ``python -m pytest -q -p no:cacheprovider``, once.

The suite runs in a child process from the repository root (``pyproject.toml``'s
options apply: tests marked ``slow`` are left out); its wall time, CPU time (user +
system, pytest and every process it waited for) and peak RSS come from ``wait4``.
The target (issue 12) is under 8 minutes on 2 cores. A failing test does not stop the
measurement: the counts from pytest's last line are reported with the time. ``--json
FILE`` also writes the measurement as JSON (what ``harness.py --suite`` reads).

Example::

    python benchmarks/bench_suite.py --json /tmp/suite.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rate import run_child

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ("-m", "pytest", "-q", "-p", "no:cacheprovider")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)")


def counts(summary: str) -> dict[str, int]:
    """``12 passed, 1 failed, 3 deselected in 9.1s`` -> ``{"passed": 12, ...}``."""
    found = {}
    for number, kind in COUNT.findall(summary):
        found["errors" if kind.startswith("error") else kind] = int(number)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    command = [sys.executable, *COMMAND, *args.pytest_args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")}
    done = run_child(command, env=env, capture_stdout=True)
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else ""
    found = counts(summary)
    if done.returncode not in (0, 1) or not found:  # 0: passed, 1: some failed
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"pytest exited with {done.returncode} and no test summary")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report: dict[str, Any] = {
        "benchmark": "suite",
        "command": ["python", *COMMAND, *args.pytest_args],
        "cores": cores or 1,
        "returncode": done.returncode,
        "summary": summary,
        "counts": found,
        "rows": [
            {
                "measurement": "test suite",
                "tests": sum(found.get(kind, 0) for kind in ("passed", "failed", "errors")),
                "wall_s": done.wall_s,
                "cpu_s": done.cpu_s,
                "peak_rss_mib": done.peak_rss_bytes / 2**20,
            }
        ],
    }
    print(f"{' '.join(report['command'])}: {done.wall_s:,.1f} s on {cores} cores; {summary}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
