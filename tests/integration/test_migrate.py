"""Migrations: applied once, in order, under a lock, and guarded against edits."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.support.servers import SuiteServers
from voicepipe.db import migrate as migrate_module
from voicepipe.db.migrate import Migration, available, migrate
from voicepipe.errors import ConfigError


@pytest.fixture
async def empty_database(test_servers: SuiteServers) -> str:
    admin = await asyncpg.connect(test_servers.database_url("postgres"))
    name = f"empty_{id(admin)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield test_servers.database_url(name)  # type: ignore[misc]
    await test_servers.drop_database(name)


async def test_concurrent_migrations_apply_each_file_once(empty_database: str) -> None:
    conns = [await asyncpg.connect(empty_database) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(a) for a in applied) == [0, 0, len(available())]
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in available()]
        assert await migrate(conns[0]) == []
    finally:
        for conn in conns:
            await conn.close()


async def test_every_table_exists_after_migrating(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert {"users", "api_tokens", "jobs", "job_events", "recordings", "chunks", "transcriptions",
                "contributor_reliability", "notifications", "webhook_endpoints", "webhook_deliveries",
                "push_subscriptions", "schema_migrations"} <= tables  # fmt: skip
        columns = {r["column_name"] for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs'")}  # fmt: skip
        job_info = {"task_id", "task_name", "status", "created_at", "started_at", "completed_at", "progress",
                    "result", "error", "retry_count", "max_retries", "queue", "priority", "metadata",
                    "worker", "args", "parent_id", "batch_id"}  # fmt: skip
        assert job_info <= columns
    finally:
        await conn.close()


async def test_an_edited_migration_is_refused(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        first, *rest = available()
        edited = Migration(first.version, first.name, first.sql + "\n-- edited")
        monkeypatch.setattr(migrate_module, "available", lambda: [edited, *rest])
        with pytest.raises(ConfigError, match="was changed after it was applied"):
            await migrate(conn)
    finally:
        await conn.close()
