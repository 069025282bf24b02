"""`voicepipe user list` and `voicepipe user revoke-token` against real servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.resources import Resources
from voicepipe.services.accounts import authenticate_token, create_user, issue_token
from voicepipe.settings import Settings


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.redis_url and settings.database_url
    return voicepipe_env(tmp_path, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)


async def test_list_shows_users_and_token_prefixes_only(
    env: dict[str, str], resources: Resources
) -> None:
    ada = await create_user(resources.db, "ada@example.org", admin=True)
    done = run_voicepipe("user", "list", env=env)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "ada@example.org" in line)
    assert "admin" in line and ada.token[:10] in line and ada.token not in done.stdout


async def test_revoke_by_prefix_by_id_and_in_full(
    env: dict[str, str], resources: Resources
) -> None:
    bob = await create_user(resources.db, "bob@example.org")
    second = await issue_token(resources.db, bob.id, "laptop")
    third = await issue_token(resources.db, bob.id, "ci")
    assert run_voicepipe("user", "revoke-token", bob.token[:10], env=env).returncode == 0
    token_id = await resources.db.fetchval("SELECT id FROM api_tokens WHERE name = 'laptop'")
    assert run_voicepipe("user", "revoke-token", str(token_id), env=env).returncode == 0
    assert run_voicepipe("user", "revoke-token", third, env=env).returncode == 0
    for token in (bob.token, second, third):
        assert await authenticate_token(resources.db, token) is None
    again = run_voicepipe("user", "revoke-token", str(token_id), env=env)
    assert again.returncode == 2 and "no live token" in again.stderr
    vague = run_voicepipe("user", "revoke-token", "vp_", env=env)
    assert vague.returncode == 2 and "prefix" in vague.stderr
