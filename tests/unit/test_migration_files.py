"""Migration files are numbered without gaps and create every table the design names."""

from __future__ import annotations

from voicepipe.db.migrate import available

DESIGN_TABLES = {
    "users", "api_tokens", "recordings", "chunks", "transcriptions", "contributor_reliability",
    "jobs", "job_events", "notifications", "webhook_endpoints", "webhook_deliveries",
    "push_subscriptions",
}  # fmt: skip


def test_versions_are_contiguous_from_one() -> None:
    versions = [m.version for m in available()]
    assert versions == list(range(1, len(versions) + 1))


def test_every_design_table_is_created() -> None:
    sql = "\n".join(m.sql for m in available())
    missing = {t for t in DESIGN_TABLES if f"CREATE TABLE {t} (" not in sql}
    assert not missing
