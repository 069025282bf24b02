"""SQL for notification preferences: one row per user who changed the defaults."""

from __future__ import annotations

from voicepipe.db.notifications import Conn
from voicepipe.domain.notifications import Preferences, default_preferences


async def for_users(conn: Conn, user_ids: list[int]) -> dict[int, Preferences]:
    """Each user's preferences; the defaults for a user who never set any."""
    rows = await conn.fetch(
        "SELECT user_id, channels FROM notification_preferences WHERE user_id = ANY($1::bigint[])",
        user_ids,
    )
    stored = {row["user_id"]: Preferences(channels=row["channels"]) for row in rows}
    return {user_id: stored.get(user_id) or default_preferences() for user_id in user_ids}


async def save(conn: Conn, user_id: int, preferences: Preferences) -> None:
    await conn.execute(
        """INSERT INTO notification_preferences (user_id, channels) VALUES ($1, $2::jsonb)
           ON CONFLICT (user_id) DO UPDATE SET channels = excluded.channels, updated_at = now()""",
        user_id, preferences.channels,
    )  # fmt: skip
