"""Every real-world sample in ../shared/real_formats/cdrs/ (skipped when it is absent)
goes through the pipeline and the command line: no traceback, exact reconciliation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cdr_rating.rating import RatingPlan
from cdrformats import REAL_FORMATS, flat_plan, rate

SAMPLES = sorted(REAL_FORMATS.glob("*")) if REAL_FORMATS.is_dir() else []
pytestmark = pytest.mark.skipif(not SAMPLES, reason=f"{REAL_FORMATS} is not there")


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> RatingPlan:
    return flat_plan(tmp_path_factory.mktemp("sheet"))


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_each_sample_reconciles(sample: Path, plan: RatingPlan) -> None:
    result = rate([sample], plan)
    assert result.read == sum(1 for line in sample.read_text().splitlines() if line.strip())
    assert result.read == result.rated.height + result.rejects.height


def test_a2billing_failover_and_nanp_prefix(plan: RatingPlan) -> None:
    from cdr_rating.cdrs import InputOptions, NumberRules

    nanp = InputOptions(numbers=NumberRules(international_prefix="011"))
    result = rate([REAL_FORMATS / "asterisk_a2billing_Master.csv"], plan, options=nanp)
    assert result.rated.select("disposition", "billable_s", "number").rows() == [
        ("CHANUNAVAIL", 0, "13474604646"),
        ("ANSWERED", 300, "13474604646"),
    ]
    assert result.rated.get_column("call_id").n_unique() == 2


def test_billsec_above_duration_in_the_testsuite_sample(plan: RatingPlan) -> None:
    result = rate([REAL_FORMATS / "asterisk_cdrlib_dispositions_Master.csv"], plan)
    assert result.rejects.select("line", "reason").rows() == [(2, "bad_duration")]


def test_all_samples_through_the_command_line(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet"
    flat_plan(sheet)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cdr_rating",
            "rate",
            *map(str, SAMPLES),
            "--sheet",
            str(sheet / "flat.toml"),
            "--out",
            str(tmp_path / "out.csv"),
            "--rejects",
            str(tmp_path / "rejects.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    counts = re.search(r"read (\d+) = rated (\d+) \+ rejected (\d+)", done.stderr)
    assert counts is not None, done.stderr
    read, rated, rejected = map(int, counts.groups())
    assert read == rated + rejected
    lines = sum(1 for sample in SAMPLES for line in sample.read_text().splitlines() if line)
    assert read == lines
