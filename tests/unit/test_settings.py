"""Settings: documented names, defaults, and one readable line for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from voicepipe.errors import ConfigError
from voicepipe.settings import Settings, env_name, load_settings


def test_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REDIS_URL",
        "DATABASE_URL",
        "JOB_RESULT_EXPIRES",
        "JOB_MAX_RETRIES",
        "JOB_RETRY_DELAY",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.redis_url is None and settings.database_url is None
    assert (
        settings.job_result_expires_s,
        settings.job_max_retries,
        settings.job_retry_delay_s,
    ) == (3600, 3, 60)


def test_documented_names_are_read_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/voicepipe")
    monkeypatch.setenv("JOB_RESULT_EXPIRES", "120")
    monkeypatch.setenv("JOB_MAX_RETRIES", "5")
    monkeypatch.setenv("JOB_RETRY_DELAY", "7")
    monkeypatch.setenv("VOICEPIPE_PORT", "9001")
    settings = load_settings()
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.database_url == "postgresql://u:p@db/voicepipe"
    assert (
        settings.job_result_expires_s,
        settings.job_max_retries,
        settings.job_retry_delay_s,
    ) == (120, 5, 7)
    assert settings.port == 9001


def test_every_other_setting_is_prefixed() -> None:
    documented = {
        "REDIS_URL",
        "DATABASE_URL",
        "JOB_RESULT_EXPIRES",
        "JOB_MAX_RETRIES",
        "JOB_RETRY_DELAY",
    }
    names = {env_name(field) for field in Settings.model_fields}
    assert documented <= names
    assert all(n.startswith("VOICEPIPE_") for n in names - documented)


@pytest.mark.parametrize(
    ("name", "value"),
    [("JOB_MAX_RETRIES", "many"), ("VOICEPIPE_PORT", "70000"), ("VOICEPIPE_LOG_LEVEL", "LOUD")],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"^invalid setting {name}='{value}': "):
        load_settings()


def test_bad_value_stops_a_command_with_one_line() -> None:
    env = {**os.environ, "JOB_RETRY_DELAY": "soon"}
    done = subprocess.run(
        [sys.executable, "-m", "voicepipe", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("voicepipe: error: invalid setting JOB_RETRY_DELAY='soon'")
