"""Worker heartbeats as feed messages: one poll per second per web process, not per socket.

Workers beat every second (engine.heartbeats); the hub reads the live ones while some admin
socket wants worker messages and tells each beat (`heartbeat`), a worker seen for the first time
(`up`) and one whose heartbeat expired or was removed (`down`).
"""

from __future__ import annotations

from typing import Any, Literal

WorkerEvent = Literal["heartbeat", "up", "down"]
POLL_EVERY_S = 1.0


class WorkerWatch:
    def __init__(self) -> None:
        self._seen_ms: dict[str, int] | None = None  # None until the first poll

    def changes(
        self, records: list[dict[str, Any]]
    ) -> list[tuple[WorkerEvent, str, dict[str, Any] | None]]:
        """What this poll's heartbeat records tell since the last poll."""
        now = {str(r["id"]): int(r.get("seen_ms", 0)) for r in records if "id" in r}
        before = self._seen_ms
        self._seen_ms = now
        told: list[tuple[WorkerEvent, str, dict[str, Any] | None]] = []
        for record in records:
            if "id" not in record:
                continue
            worker_id = str(record["id"])
            if before is not None and worker_id not in before:
                told.append(("up", worker_id, record))
            elif before is None or before[worker_id] != now[worker_id]:
                told.append(("heartbeat", worker_id, record))
        told += [("down", worker_id, None) for worker_id in (before or {}) if worker_id not in now]
        return told

    def forget(self) -> None:
        """No admin is listening: start afresh (no up/down across a gap nobody watched)."""
        self._seen_ms = None
