"""``cdr-rating run`` twice changes nothing; a file or a call is never ingested twice."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.errors import ExitCode, InputError, UsageError
from cdr_rating.ledger import Ledger
from cdr_rating.store import DataDir, write_journal
from nightly import (
    NOVEMBER,
    ROOT,
    corrupt_parquet,
    ledger_state,
    make_workspace,
    run_cli,
    run_here,
    sample_rows,
    stored_files,
    stored_frame,
    tree,
    write_cdrs,
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


def test_the_first_run_stores_every_row_once(config: Path) -> None:
    report = run_here(config)
    data_dir = config.parent / "var"

    assert [file.name for file in report.new] == ["2026-10-01-a.csv", "2026-10-01-b.csv"]
    assert report.read == 85
    assert report.reconciles()
    assert (report.rated, report.rejected) == (76, 9)
    assert report.rejected_by_reason["bad_time"] == 1
    assert report.duplicates_in_input == 1
    assert report.periods == ["2026-10", "2026-11", "unknown"]
    rated, rejects = stored_frame(data_dir, "rated"), stored_frame(data_dir, "rejects")
    assert rated.height + rejects.height == report.read
    assert rated.get_column("call_id").is_unique().all()
    assert set(rated.get_column("file")) == {"2026-10-01-a.csv", "2026-10-01-b.csv"}
    assert list((data_dir / "rejects" / "unknown").iterdir())
    manifest = json.loads(report.manifest.read_text()) if report.manifest else {}
    assert manifest["counts"]["read"] == 85
    assert manifest["exit_status"] == 0
    assert [i["sha256"] for i in manifest["files"]["new"]] == [f.sha256 for f in report.new]
    assert {Path(s["path"]).suffix for s in manifest["references"]["sheets"]} == {".toml", ".csv"}
    assert set(manifest["timings_s"]) >= {"hash", "rate", "duplicates", "write", "ledger"}


def test_running_twice_changes_nothing(config: Path) -> None:
    data_dir = config.parent / "var"
    run_here(config)
    files, ledger = stored_files(data_dir), ledger_state(data_dir)
    with Ledger.open(data_dir / "ledger.sqlite") as opened:
        totals = opened.period_totals()

    again = run_here(config)

    assert again.new == []
    assert len(again.skipped) == 2
    assert (again.read, again.rated, again.rejected) == (0, 0, 0)
    assert stored_files(data_dir) == files
    assert ledger_state(data_dir) == ledger
    with Ledger.open(data_dir / "ledger.sqlite") as opened:
        assert opened.period_totals() == totals


def test_the_same_inbox_gives_byte_identical_stores(config: Path, tmp_path: Path) -> None:
    run_here(config, tmp_path / "one")
    run_here(config, tmp_path / "two")

    assert stored_files(tmp_path / "one") == stored_files(tmp_path / "two")
    assert ledger_state(tmp_path / "one") == ledger_state(tmp_path / "two")


def test_a_renamed_copy_is_skipped(config: Path) -> None:
    run_here(config)
    inbox = config.parent / "inbox"
    shutil.copy(inbox / "2026-10-01-a.csv", inbox / "resent.csv")

    report = run_here(config)

    assert report.new == []
    (skipped,) = [s for s in report.skipped if s.name == "resent.csv"]
    assert skipped.why.startswith("same content as 2026-10-01-a.csv, ingested by run ")


def test_a_call_delivered_again_is_a_duplicate(config: Path) -> None:
    data_dir = config.parent / "var"
    run_here(config)
    before = stored_frame(data_dir, "rated")
    _, rows = sample_rows()
    write_cdrs(config.parent / "inbox" / "late.csv", [rows[0], "fresh-1" + rows[1][13:]])

    report = run_here(config)

    assert (report.read, report.rated, report.rejected) == (2, 1, 1)
    assert report.duplicates_stored == 1
    rejects = stored_frame(data_dir, "rejects").filter(pl.col("file") == "late.csv")
    assert rejects.get_column("reason").to_list() == ["duplicate"]
    assert "is already stored for period 2026-10" in rejects.get_column("message").item()
    assert rejects.get_column("raw").item() == rows[0]
    after = stored_frame(data_dir, "rated")
    assert after.height == before.height + 1
    assert after.get_column("call_id").is_unique().all()


def test_a_closed_period_refuses_late_calls_unless_allowed(config: Path) -> None:
    data_dir = config.parent / "var"
    closing = run_here(config, period="2026-10", close=True)
    assert closing.close == "2026-10"
    late = "late-0001,ACME-001,+493023125001,+49 30 23125777,2026-10-30T10:00:00Z,60,ANSWERED"
    write_cdrs(config.parent / "inbox" / "late.csv", [late])

    refused = run_here(config)
    write_cdrs(config.parent / "inbox" / "later.csv", [late.replace("late-", "later-")])
    allowed = run_here(config, allow_closed=True)

    assert refused.rejected_by_reason == {"closed_period": 1}
    assert (allowed.rated, allowed.rejected) == (1, 0)
    rejects = stored_frame(data_dir, "rejects").filter(pl.col("file") == "late.csv")
    assert "billing period 2026-10 is closed" in rejects.get_column("message").item()
    again = run_here(config, period="2026-10", close=True)
    assert again.already_closed


def test_period_ingests_only_files_with_a_call_in_it(config: Path) -> None:
    write_cdrs(config.parent / "inbox" / "november.csv", [NOVEMBER.replace("nov-", "n2-")])

    october = run_here(config, period="2026-10")
    rest = run_here(config)

    assert [f.name for f in october.new] == ["2026-10-01-a.csv", "2026-10-01-b.csv"]
    assert "2026-11" in october.periods  # a file with October calls is ingested whole
    assert [f.name for f in october.deferred] == ["november.csv"]
    assert [f.name for f in rest.new] == ["november.csv"]
    assert rest.rated == 1


def test_a_dry_run_writes_nothing(config: Path) -> None:
    data_dir = config.parent / "var"
    dry = run_here(config, dry_run=True)
    assert not data_dir.exists()
    real = run_here(config)
    orphan = "rated/period=2026-10/0000000000000000.parquet"
    (data_dir / orphan).write_bytes(b"orphan")
    write_journal(DataDir(data_dir), "run", "killed", [orphan])
    before = tree(data_dir)

    shutil.copy(config.parent / "inbox" / "2026-10-01-a.csv", config.parent / "inbox" / "x.csv")
    write_cdrs(config.parent / "inbox" / "new.csv", [NOVEMBER.replace("nov-", "n3-")])
    second = run_here(config, dry_run=True, period="2026-11", close=True)

    assert tree(data_dir) == before
    assert (dry.read, dry.rated, dry.totals) == (real.read, real.rated, real.totals)
    assert second.orphans == ["rated/period=2026-10/0000000000000000.parquet"]
    assert [f.name for f in second.new] == ["new.csv"]
    assert second.summary_lines()[-2:] == [
        "period 2026-11 would be closed",
        "dry run: nothing was written",
    ]


def test_orphans_of_a_killed_run_are_removed_first(config: Path) -> None:
    data_dir = config.parent / "var"
    run_here(config)
    orphan = data_dir / "rated" / "period=2026-10" / "0000000000000000.parquet"
    orphan.write_bytes(b"partial")
    stranger = data_dir / "rated" / "period=2026-10" / "1111111111111111.parquet"
    stranger.write_bytes(b"not named by any journal")
    write_journal(DataDir(data_dir), "run", "killed", [DataDir(data_dir).relative(orphan)])

    report = run_here(config)

    assert report.orphans == ["rated/period=2026-10/0000000000000000.parquet"]
    assert not orphan.exists()
    assert stranger.read_bytes() == b"not named by any journal"  # never removed unproven
    assert not (data_dir / "journal").exists() or not any((data_dir / "journal").iterdir())


def test_bad_requests_and_inputs_have_their_exit_codes(config: Path) -> None:
    with pytest.raises(UsageError, match="--close needs --period"):
        run_here(config, close=True)
    with pytest.raises(UsageError, match="not a billing period"):
        run_here(config, period="2026-13")
    (config.parent / "inbox" / "zz-unknown.csv").write_text("who,what\n1,2\n")
    with pytest.raises(InputError) as caught:
        run_here(config)
    assert caught.value.exit_code == ExitCode.INPUT
    assert "zz-unknown.csv" in str(caught.value)
    with Ledger.open(config.parent / "var" / "ledger.sqlite") as ledger:
        (row,) = ledger._connection.execute("SELECT status, exit_status, error FROM runs")
        assert ledger.ingested_files() == {}
    assert row[:2] == ("failed", 3)


def test_the_command_prints_a_summary_and_json_lines(config: Path) -> None:
    text = run_cli(config, "--log-format", "text")
    json_run = run_cli(config, "--log-format", "json")

    assert text.returncode == 0, text.stderr
    assert text.stdout == ""
    lines = text.stderr.splitlines()
    assert lines[0].startswith("run ")
    assert lines[0].endswith(": files 2 new, 0 already ingested")
    assert "read 85 = rated 76 + rejected 9" in lines
    assert "duplicates: 1 (1 within the new files, 0 already stored)" in lines
    assert any(line.startswith("total EUR ") for line in lines)
    assert json_run.returncode == 0, json_run.stderr
    records = [json.loads(line) for line in json_run.stderr.splitlines()]
    assert records[-1]["counts"]["read"] == 0
    assert len(records[-1]["files"]["skipped"]) == 2


def test_the_demo_configuration_ingests_the_sample_month(tmp_path: Path) -> None:
    """The quick start's job on the demo month (sample_cdrs/README.md), without the
    PDFs: test_invoices.py closes periods, this checks what the demo inbox holds."""
    report = run_here(ROOT / "cdr-rating.toml", tmp_path / "var", period="2026-10")

    names = [file.name for file in report.new]
    assert len(names) == 95
    assert "2026-10-01.csv" in names
    assert "accounts.csv" not in names
    assert "fees.csv" not in names
    assert (report.read, report.rated, report.rejected) == (43270, 43242, 28)
    assert report.totals["EUR"].charge == "2946.4473"
    assert report.totals["USD"].charge == "1368.226946"


def test_skipped_files_are_counted_and_listed_only_with_verbose(config: Path) -> None:
    """Files whose content was ingested are one count in the summary, not a line each."""
    assert run_cli(config, "--log-format", "text").returncode == 0
    inbox = config.parent / "inbox"
    for path in inbox.iterdir():  # a new modification time: the files are hashed again
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    quiet = run_cli(config, "--log-format", "text")
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stderr.splitlines()
    assert lines[0].endswith(": files 0 new, 2 already ingested")
    assert not [line for line in lines if line.startswith("skipped")]

    verbose = run_cli(config, "--log-format", "text", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    listed = [line for line in verbose.stderr.splitlines() if line.startswith("skipped")]
    assert [line.split(": ")[0] for line in listed] == [
        f"skipped {(inbox / name).resolve()}" for name in ("2026-10-01-a.csv", "2026-10-01-b.csv")
    ]
    assert listed[0].split(": ", 1)[1].startswith("same content as 2026-10-01-a.csv, ingested ")


def test_a_corrupt_parquet_file_in_the_inbox_exits_3_naming_it(config: Path) -> None:
    broken = corrupt_parquet(config.parent / "inbox" / "zz-broken.parquet")
    done = run_cli(config, "--log-format", "text")
    assert done.returncode == 3
    [line] = done.stderr.splitlines()
    assert line.startswith(f"cdr-rating: error: {broken}: cannot be read (parquet: ")
    with Ledger.open(config.parent / "var" / "ledger.sqlite") as ledger:
        assert ledger.ingested_files() == {}


def test_the_json_summary_gives_the_manifest_as_an_absolute_path(config: Path) -> None:
    done = run_cli(config, "--log-format", "json")
    assert done.returncode == 0, done.stderr
    manifest = Path(json.loads(done.stderr.splitlines()[-1])["manifest"])
    assert manifest.is_absolute()
    assert manifest.is_file()
