"""Every Redis key name voicepipe uses, in one place."""

from __future__ import annotations

PREFIX = "voicepipe"

WORKERS = f"{PREFIX}:workers"  # sorted set: worker id -> last heartbeat (ms since epoch)


def queue(name: str) -> str:
    """The arq queue (sorted set of job ids) of a named voicepipe queue."""
    return f"{PREFIX}:queue:{name}"


def worker(worker_id: str) -> str:
    """A worker's heartbeat record (JSON, short expiry)."""
    return f"{PREFIX}:worker:{worker_id}"
