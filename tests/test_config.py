"""``cdr-rating.toml`` and ``CDR_RATING__SECTION__KEY``: defaults, errors, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdr_rating.config import load_settings
from cdr_rating.errors import ConfigError, ExitCode
from nightly import ROOT, make_workspace, run_cli


def write_config(folder: Path, text: str) -> Path:
    path = folder / "cdr-rating.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CDR_RATING__"):
            monkeypatch.delenv(name)


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.problems


def test_demo_configuration_resolves_against_its_folder() -> None:
    settings = load_settings(ROOT / "cdr-rating.toml")

    assert settings.paths.data_dir == ROOT / "var"
    assert settings.paths.inbox == ROOT / "sample_cdrs"
    assert settings.paths.accounts == ROOT / "sample_cdrs" / "accounts.csv"
    assert settings.paths.fees == ROOT / "sample_cdrs" / "fees.csv"
    assert settings.billing.timezone == "Europe/Berlin"
    assert settings.billing.issuer.name


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, ""))

    assert settings.paths.data_dir == tmp_path / "var"
    assert settings.paths.inbox_patterns == ["*.csv", "*.parquet"]
    assert settings.paths.accounts is None
    assert settings.input.format == "auto"
    assert settings.input.international_prefix == "00"
    assert settings.billing.timezone == "UTC"
    assert (settings.billing.invoice_prefix, settings.billing.credit_note_prefix) == ("INV", "CN")
    assert settings.billing.debit_note_prefix == "DN"
    assert settings.billing.payment_terms_days == 14


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[paths]\ndata_dri = "x"\n', "key 'paths.data_dri': unknown key"),
        ("[colours]\nred = 1\n", "key 'colours': unknown key"),
        (
            '[billing]\npayment_terms_days = "soon"\n',
            "key 'billing.payment_terms_days': Input should be a valid integer",
        ),
        (
            '[billing]\ntimezone = "Mars/Olympus"\n',
            "key 'billing.timezone': not an IANA timezone (e.g. Europe/Berlin) "
            "(got 'Mars/Olympus')",
        ),
        ('[input]\ntimezone = "CEST"\n', "key 'input.timezone': not an IANA timezone"),
        ('[input]\nformat = "excel"\n', "key 'input.format': 'excel' is not a CDR format"),
        ('[input]\ninternational_prefix = "+"\n', "key 'input.international_prefix'"),
        ('[billing.issuer]\nfax = "1"\n', "key 'billing.issuer.fax': unknown key"),
    ],
)
def test_a_bad_key_is_one_line_naming_it(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write_config(tmp_path, text))

    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'cdr-rating.toml'}: key ")
    assert expected in found[0]


def test_syntax_errors_and_missing_files_name_the_file(tmp_path: Path) -> None:
    broken = write_config(tmp_path, "[paths\n")
    assert problems(broken)[0].startswith(f"{broken}: TOML syntax error")
    missing = tmp_path / "nowhere.toml"
    assert "configuration file not found" in problems(missing)[0]


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, '[paths]\ndata_dir = "var"\n[billing]\ntimezone = "UTC"\n')
    monkeypatch.setenv("CDR_RATING__PATHS__DATA_DIR", "/srv/cdr")
    monkeypatch.setenv("CDR_RATING__PATHS__INBOX", "drop")
    monkeypatch.setenv("CDR_RATING__BILLING__TIMEZONE", "Europe/Vienna")
    monkeypatch.setenv("CDR_RATING__BILLING__ISSUER__NAME", "Env Telecom")
    monkeypatch.setenv("CDR_RATING__INPUT__STRIP_PREFIXES", '["1010"]')

    settings = load_settings(config)

    assert settings.paths.data_dir == Path("/srv/cdr")
    assert settings.paths.inbox == tmp_path / "drop"
    assert settings.billing.timezone == "Europe/Vienna"
    assert settings.billing.issuer.name == "Env Telecom"
    assert settings.input.strip_prefixes == ["1010"]


def test_a_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, "")
    monkeypatch.setenv("CDR_RATING__BILLING__PAYMENT_TERMS_DAYS", "-3")
    monkeypatch.setenv("CDR_RATING__PATH__DATA_DIR", "/tmp/typo")

    found = problems(config)

    assert any(
        "environment variable CDR_RATING__PATH__DATA_DIR: unknown section" in p for p in found
    )
    monkeypatch.delenv("CDR_RATING__PATH__DATA_DIR")
    (only,) = problems(config)
    assert "key 'billing.payment_terms_days' (from environment variable " in only
    assert "CDR_RATING__BILLING__PAYMENT_TERMS_DAYS): " in only


def test_trunk_prefix_needs_a_country_code(tmp_path: Path) -> None:
    (only,) = problems(write_config(tmp_path, '[input]\ntrunk_prefix = "0"\n'))
    assert "trunk_prefix and country_code go together" in only


def test_run_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = make_workspace(tmp_path)
    config.write_text(config.read_text() + 'colour = "blue"\n', encoding="utf-8")

    done = run_cli(config, "--log-format", "text")

    assert done.returncode == ExitCode.USAGE
    assert done.stderr.splitlines() == [
        f"cdr-rating: error: {config}: key 'billing.colour': unknown key"
    ]
    assert not (tmp_path / "var").exists()
