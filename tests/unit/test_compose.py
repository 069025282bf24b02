"""docker-compose.yml: valid, the four services with health checks, a scalable worker, the documented names."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_is_valid_for_compose() -> None:
    done = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_services_have_health_checks_and_volumes() -> None:
    services = _compose()["services"]
    assert {"redis", "postgres", "web", "worker"} <= set(services)
    for name in ("redis", "postgres", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert services["redis"]["volumes"] and services["postgres"]["volumes"]
    assert "appendonly" in " ".join(services["redis"]["command"])


def test_worker_can_be_scaled() -> None:
    worker = _compose()["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_services_use_the_documented_variable_names() -> None:
    env = _compose()["services"]["web"]["environment"]
    assert {
        "REDIS_URL",
        "DATABASE_URL",
        "JOB_RESULT_EXPIRES",
        "JOB_MAX_RETRIES",
        "JOB_RETRY_DELAY",
    } <= set(env)
    assert _compose()["services"]["worker"]["environment"] == env
