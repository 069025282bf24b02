"""Commands as a user runs them: `user create`, `migrate`, `ping` against running servers."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.resources import Resources
from voicepipe.services.accounts import authenticate
from voicepipe.settings import Settings


def _env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.redis_url and settings.database_url
    return voicepipe_env(tmp_path, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)


async def test_user_create_prints_a_working_token_last(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    done = run_voicepipe(
        "user", "create", "--email", "ada@example.org", "--admin", env=_env(settings, tmp_path)
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("vp_") and " " not in token
    user = await authenticate(resources.db, token)
    assert user is not None and (user.email, user.role) == ("ada@example.org", "admin")
    stored = await resources.db.fetchval(
        "SELECT count(*) FROM api_tokens WHERE token_hash = $1", token.encode()
    )
    assert stored == 0  # only the digest is stored


async def test_duplicate_user_is_one_clear_line(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings, tmp_path)
    assert run_voicepipe("user", "create", "--email", "bob@example.org", env=env).returncode == 0
    done = run_voicepipe("user", "create", "--email", "BOB@example.org", env=env)
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1]
        == "voicepipe: error: a user with email BOB@example.org already exists"
    )


async def test_ping_without_a_worker_times_out_clearly(settings: Settings, tmp_path: Path) -> None:
    done = run_voicepipe("ping", "--timeout", "0.5", env=_env(settings, tmp_path))
    assert done.returncode == 1
    assert "no worker answered on queue default" in done.stderr


async def test_unreachable_database_is_reported_not_a_traceback(
    settings: Settings, tmp_path: Path
) -> None:
    env = _env(settings, tmp_path)
    env["DATABASE_URL"] = "postgresql://nobody:x@127.0.0.1:1/none"
    env["VOICEPIPE_STARTUP_TIMEOUT_S"] = "1"
    done = run_voicepipe("migrate", env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "voicepipe: error: PostgreSQL is not reachable" in done.stderr
