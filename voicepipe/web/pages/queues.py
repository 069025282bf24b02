"""The Queues page (GET /queues, admins): per queue what is ready, deferred and running, how long
its oldest job has waited and how many workers serve it; and purging a queue (POST, confirmed)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from voicepipe.domain.job_views import QueueLength
from voicepipe.engine.heartbeats import get_workers
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.services import control
from voicepipe.services.notifications.alerts_readings import QueueWork, queue_work
from voicepipe.settings import QUEUES
from voicepipe.web.context import resources_of
from voicepipe.web.pages import actions
from voicepipe.web.pages.render import render_page
from voicepipe.web.pages.session import require_admin

ROUTES = web.RouteTableDef()
BACK = "/queues"


@dataclass(frozen=True)
class QueueRow:
    queue: str
    ready: int
    deferred: int
    running: int
    oldest_wait_s: float | None  # None when nothing waits
    workers: int  # live workers serving the queue

    @property
    def waiting(self) -> int:
        """What a purge removes: the ready and the deferred jobs (running ones are left)."""
        return self.ready + self.deferred


@ROUTES.get("/queues")
async def queues(request: web.Request) -> web.Response:
    user = await require_admin(request)
    rows = await queue_rows(resources_of(request))
    return render_page(request, "queues.html", user, "queues", {"rows": rows, "live": "job"})


@ROUTES.post("/queues/{queue}/purge")
async def purge(request: web.Request) -> web.Response:
    user = await require_admin(request)
    form = await actions.posted(request)
    queue = request.match_info["queue"]
    if queue not in QUEUES:
        return actions.redirect(BACK, "error", f"There is no queue {queue!r} to purge.")
    resources = resources_of(request)
    if not actions.confirmed(form):
        waiting = next(r.waiting for r in await queue_rows(resources) if r.queue == queue)
        return actions.confirmation(
            request, user, form, question=f"Purge queue {queue}?", button="Purge queue",
            back=BACK, active="queues", details=[purge_details(waiting)],
        )  # fmt: skip
    return await actions.run(BACK, _purge(resources, queue))


def purge_details(waiting: int) -> str:
    jobs = "1 job waits" if waiting == 1 else f"{waiting:,} jobs wait"
    return (
        f"{jobs} in it now: each is removed and recorded as cancelled. "
        "Running jobs are left to finish."
    )


async def _purge(resources: Resources, queue: str) -> str:
    purged = await control.purge_queue(resources, queue)
    return f"Purged {purged:,} {'job' if purged == 1 else 'jobs'} from {queue}."


async def queue_rows(resources: Resources) -> list[QueueRow]:
    """Every queue's figures, the sources read at the same time."""
    now_ms = int(time.time() * 1000)
    aging_ms = int(resources.settings.priority_aging_s * 1000)
    lengths, work, workers = await asyncio.gather(
        monitoring.get_queue_lengths(resources),
        queue_work(resources.redis, now_ms, aging_ms),
        get_workers(resources.redis),
    )
    return rows_of(lengths, work, workers, now_ms)


def rows_of(
    lengths: list[QueueLength], work: list[QueueWork], workers: list[dict[str, Any]], now_ms: int
) -> list[QueueRow]:
    oldest = {w.queue: w.oldest_ms for w in work}
    rows = []
    for q in lengths:
        since_ms = oldest.get(q.queue)
        serving = sum(1 for w in workers if q.queue in (w.get("queues") or []))
        rows.append(
            QueueRow(
                queue=q.queue, ready=q.ready, deferred=q.deferred, running=q.running,
                oldest_wait_s=None if since_ms is None else max(0, now_ms - since_ms) / 1000,
                workers=serving,
            )
        )  # fmt: skip
    return rows
