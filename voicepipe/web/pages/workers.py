"""The Workers page (GET /workers, admins): every live worker's last heartbeat (what it serves, what
it runs, memory, uptime, restarts, how fresh its beat is), and restarting them all (POST, confirmed)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from voicepipe.engine.heartbeats import HEARTBEAT_INTERVAL_S, get_workers
from voicepipe.resources import Resources
from voicepipe.services import control
from voicepipe.web.context import resources_of
from voicepipe.web.pages import actions
from voicepipe.web.pages.render import render_page
from voicepipe.web.pages.session import require_admin

ROUTES = web.RouteTableDef()
BACK = "/workers"
LISTED = 300  # a bound on the rows; far more workers than one Redis usually serves
RUNNING_LISTED = 6  # job links per worker; the rest is a count
# A beat older than two intervals means the worker missed one: its event loop is busy or stalled
# (it is taken for lost at heartbeats.HEARTBEAT_TTL_S, when its record expires and it leaves the page).
LATE_AFTER_S = 2 * HEARTBEAT_INTERVAL_S


@dataclass(frozen=True)
class WorkerRow:
    id: str
    host: str
    pid: str
    queues: list[str]
    concurrency: str
    running: list[str]
    memory_mib: float | None
    uptime_s: float | None
    restarts: int
    last_exit: str | None
    version: str
    processed: int | None
    failed: int | None
    beat_age_s: float | None

    @property
    def late(self) -> bool:
        return self.beat_age_s is not None and self.beat_age_s > LATE_AFTER_S


@ROUTES.get("/workers")
async def workers(request: web.Request) -> web.Response:
    user = await require_admin(request)
    heartbeats = await get_workers(resources_of(request).redis)
    rows = worker_rows(heartbeats, time.time())
    return render_page(request, "workers.html", user, "workers", {
        "rows": rows[:LISTED], "count": len(rows), "running_listed": RUNNING_LISTED,
        "busy": sum(len(r.running) for r in rows), "live": "worker heartbeat",
    })  # fmt: skip


@ROUTES.post("/workers/restart")
async def restart(request: web.Request) -> web.Response:
    user = await require_admin(request)
    form = await actions.posted(request)
    if not actions.confirmed(form):
        return actions.confirmation(
            request, user, form, question="Restart every live worker?", button="Restart all",
            back=BACK, active="workers", details=[RESTART_DETAILS],
        )  # fmt: skip
    return await actions.run(BACK, _restart(resources_of(request)))


RESTART_DETAILS = (
    "Each worker stops taking jobs, lets its running jobs finish within its grace period (or "
    "hands them back to their queues), and exits; its supervisor starts a fresh process."
)


async def _restart(resources: Resources) -> str:
    acked = await control.restart_workers(resources)
    if not acked:
        return "No worker answered: none was asked to restart."
    return f"Restart asked of {len(acked)} {'worker' if len(acked) == 1 else 'workers'}: " + (
        ", ".join(acked)
    )


def worker_rows(heartbeats: list[dict[str, Any]], now_s: float) -> list[WorkerRow]:
    """The heartbeat records as rows, by host then id (a worker keeps its place between beats)."""
    rows = [_row(h, now_s) for h in heartbeats if "id" in h]
    return sorted(rows, key=lambda r: (r.host, r.id))


def _row(beat: dict[str, Any], now_s: float) -> WorkerRow:
    rss, started, seen_ms = (
        _float(beat.get(k)) for k in ("memory_rss_bytes", "started_at", "seen_ms")
    )
    processed, failed = _float(beat.get("processed")), _float(beat.get("failed"))
    return WorkerRow(
        id=str(beat["id"]), host=str(beat.get("host") or "?"), pid=str(beat.get("pid") or "?"),
        queues=[str(q) for q in beat.get("queues") or []],
        concurrency=str(beat.get("concurrency") or "?"),
        running=[str(j) for j in beat.get("running") or []],
        memory_mib=None if rss is None else rss / 2**20,
        uptime_s=None if started is None else max(0.0, now_s - started),
        restarts=int(beat.get("restarts") or 0), last_exit=beat.get("last_exit") or None,
        version=str(beat.get("version") or "?"),
        processed=None if processed is None else int(processed),
        failed=None if failed is None else int(failed),
        beat_age_s=None if seen_ms is None else max(0.0, now_s - seen_ms / 1000),
    )  # fmt: skip


def _float(value: Any) -> float | None:
    """A heartbeat figure, or None where the record has none (an older worker's, or garbled)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
