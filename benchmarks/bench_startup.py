"""Start-up of a command that renders nothing, against ``python -c "import polars"``.

Times, each in a child process, ``--runs`` times interleaved (A B C D A B C D ...)
after one untimed warm-up round, so that background load and the page cache affect all
of them alike:

- ``import polars``: ``python -c "import polars"``, the floor (every command needs
  Polars);
- ``cdr-rating --help``: the installed console script (beside ``sys.executable``);
- ``python -m cdr_rating --help``;
- ``cdr-rating rate --help``: the start-up ``cdr-rating rate ...`` pays before it reads
  a file.

Reported per command: the median and the fastest wall time, the median CPU time (user +
system) and the peak RSS, all from ``wait4``, and the median as a multiple of
``import polars``'s median; the target (issue 12) is at most 1.3x for ``cdr-rating
--help`` and ``cdr-rating rate --help``. A child that runs ``cdr-rating --help`` (and
one for ``rate --help``) in-process under ``python -X importtime`` reports which heavy
packages it imported, and the cumulative import time of each: WeasyPrint should not be
among them, as nothing is rendered. ``--json FILE`` also writes the
measurements as JSON (what ``harness.py`` reads).

Example::

    python benchmarks/bench_startup.py --runs 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rate import run_child

FLOOR = "import polars"
# The packages whose import a command that renders nothing should (or need not) pay.
HEAVY = ("weasyprint", "jinja2", "pyarrow", "pydantic", "rich", "typer", "polars")
MARKER = "BENCH_STARTUP_MODULES="
# Run the console script's entry point in-process, then say which heavy packages it
# imported (the last line of stdout, after the help text).
PROBE = """\
import json, sys
sys.argv = ["cdr-rating", *ARGV]
from cdr_rating.cli import main
try:
    main()
except SystemExit:
    pass
roots = {name.partition(".")[0] for name in sys.modules}
print(MARKER + json.dumps(sorted(roots & set(HEAVY))), flush=True)
"""
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)\s*$")


def console_script() -> str:
    """The installed ``cdr-rating`` script: beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "cdr-rating"
    if beside.exists():
        return str(beside)
    found = shutil.which("cdr-rating")
    if found is None:
        raise SystemExit("cdr-rating is not installed; run `pip install -e .` first")
    return found


def commands() -> dict[str, list[str]]:
    script = console_script()
    return {
        FLOOR: [sys.executable, "-c", "import polars"],
        "cdr-rating --help": [script, "--help"],
        "python -m cdr_rating --help": [sys.executable, "-m", "cdr_rating", "--help"],
        "cdr-rating rate --help": [script, "rate", "--help"],
    }


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")}


def probe_source(argv: list[str]) -> str:
    """Python source that runs ``cdr-rating ARGV`` and prints ``MARKER`` + the packages."""
    constants = f"ARGV = {argv!r}\nHEAVY = {list(HEAVY)!r}\nMARKER = {MARKER!r}\n"
    return constants + PROBE


def probe(argv: list[str]) -> tuple[list[str], dict[str, float]]:
    """Which heavy packages ``cdr-rating ARGV`` imports, and the cumulative import time
    (ms) of each, from one child run in-process under ``python -X importtime`` (which
    logs a module once, at its first import)."""
    done = run_child(
        [sys.executable, "-X", "importtime", "-c", probe_source(argv)],
        env=clean_env(),
        capture_stdout=True,
    )
    packages = [
        json.loads(line.removeprefix(MARKER))
        for line in done.stdout.splitlines()
        if line.startswith(MARKER)
    ]
    if not packages:
        raise SystemExit(f"the import probe of cdr-rating {' '.join(argv)} failed:\n{done.stderr}")
    times: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match is not None and match.group(3) in HEAVY:
            times[match.group(3)] = int(match.group(2)) / 1000
    return packages[-1], times


def measure(runs: int, warmup: int = 1) -> dict[str, dict[str, Any]]:
    """Every command ``warmup`` + ``runs`` times, interleaved; the warm-up is not kept."""
    found: dict[str, dict[str, Any]] = {
        name: {"wall": [], "cpu": [], "rss": 0} for name in commands()
    }
    env = clean_env()
    for round_ in range(warmup + runs):
        for name, command in commands().items():
            done = run_child(command, env=env)
            if done.returncode != 0:
                raise SystemExit(f"{name} exited with {done.returncode}:\n{done.stderr}")
            if round_ < warmup:
                continue
            found[name]["wall"].append(done.wall_s)
            found[name]["cpu"].append(done.cpu_s)
            found[name]["rss"] = max(found[name]["rss"], done.peak_rss_bytes)
    return found


def json_report(
    found: dict[str, dict[str, Any]],
    modules: dict[str, list[str]],
    times: dict[str, dict[str, float]],
) -> dict[str, Any]:
    floor = statistics.median(found[FLOOR]["wall"])
    rows = []
    for name, measured in found.items():
        median = statistics.median(measured["wall"])
        rows.append(
            {
                "measurement": name,
                "runs": len(measured["wall"]),
                "wall_s": median,
                "min_wall_s": min(measured["wall"]),
                "cpu_s": statistics.median(measured["cpu"]),
                "peak_rss_mib": measured["rss"] / 2**20,
                "wall_s_of_runs": measured["wall"],
                "vs_import_polars": median / floor,
            }
        )
    return {
        "benchmark": "startup",
        "rows": rows,
        "imports": modules,
        "weasyprint_imported": {name: "weasyprint" in found for name, found in modules.items()},
        "import_time_ms": times,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    found = measure(args.runs, args.warmup)
    modules, times = {}, {}
    for command in (["--help"], ["rate", "--help"]):
        name = " ".join(["cdr-rating", *command])
        modules[name], times[name] = probe(command)
    report = json_report(found, modules, times)
    lines = [
        f"bench_startup: median and fastest of {args.runs} runs (after {args.warmup} "
        f"warm-up); {os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        "| command | median (s) | fastest (s) | CPU (s) | peak RSS (MiB) | / import polars |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['measurement']} | {row['wall_s']:.3f} | {row['min_wall_s']:.3f} | "
            f"{row['cpu_s']:.3f} | {row['peak_rss_mib']:.0f} | "
            f"{row['vs_import_polars']:.2f}x |"
        )
    lines.append("")
    for name, packages in modules.items():
        weasyprint = "yes" if "weasyprint" in packages else "no"
        lines.append(f"- `{name}` imports WeasyPrint: {weasyprint} ({', '.join(packages)})")
    for name, measured in times.items():
        shown = ", ".join(f"{package} {ms:,.0f} ms" for package, ms in sorted(measured.items()))
        lines.append(f"- cumulative import times under `{name}`: {shown}")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
