"""The Overview page (GET /, admins): jobs by status, throughput and failure rate charts, wait and
run times, queue depths, live workers, recent failures and firing alerts, read concurrently, and
refreshed live on job and worker events."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from voicepipe.domain.alerts import AlertState
from voicepipe.domain.job_info import JobInfo, PageRequest
from voicepipe.domain.job_views import Statistics
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.heartbeats import get_workers
from voicepipe.history import monitoring
from voicepipe.services.notifications.alerts import current_alerts
from voicepipe.services.notifications.alerts_readings import queue_work
from voicepipe.web.context import resources_of
from voicepipe.web.pages import charts, queues
from voicepipe.web.pages.queues import QueueRow
from voicepipe.web.pages.render import Cell, Column, Table, age, duration, render_page, when
from voicepipe.web.pages.session import require_user

ROUTES = web.RouteTableDef()

WINDOWS = {"1h": "1 h", "24h": "24 h", "7d": "7 d"}  # ?window= value: as written
DEFAULT_WINDOW = "24h"
LIVE_STATUSES = (JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.RETRY)
FINAL_STATUSES = (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED)
RECENT_FAILURES = 10
WORKERS_LISTED = 10


@ROUTES.get("/", name="overview")
async def overview(request: web.Request) -> web.Response:
    """Admins' first page; anyone else signed in starts at their own jobs."""
    user = await require_user(request)
    if user.role != "admin":
        raise web.HTTPSeeOther("/jobs")
    window = request.query.get("window", DEFAULT_WINDOW)
    window = window if window in WINDOWS else DEFAULT_WINDOW
    context = await overview_context(request, window, datetime.now(UTC))
    return render_page(request, "overview.html", user, "overview", context)


async def overview_context(request: web.Request, window: str, now: datetime) -> dict[str, Any]:
    """Everything the page shows, each source read once and all of them at the same time."""
    resources = resources_of(request)
    now_ms = int(now.timestamp() * 1000)
    aging_ms = int(resources.settings.priority_aging_s * 1000)
    per_window = asyncio.gather(*(monitoring.get_statistics(resources, w, now) for w in WINDOWS))
    windows, lengths, work, workers, failed, alerts = await asyncio.gather(
        per_window,
        monitoring.get_queue_lengths(resources),
        queue_work(resources.redis, now_ms, aging_ms),
        get_workers(resources.redis),
        monitoring.get_failed_tasks(resources, PageRequest(limit=RECENT_FAILURES)),
        current_alerts(resources),
    )
    stats = dict(zip(WINDOWS, windows, strict=True))
    selected = stats[window]
    return {
        "live": "job worker",
        "window": window,
        "windows": WINDOWS,
        "stats": selected,
        "now": [(s.value, selected.by_status.get(s, 0)) for s in LIVE_STATUSES],
        "final": [(s.value, selected.by_status.get(s, 0)) for s in FINAL_STATUSES],
        "throughput": throughput_chart(selected, WINDOWS[window]),
        "failure_rates": failure_rate_chart(stats),
        "timings": timings_table(selected, WINDOWS[window]),
        "queues": queues_table(queues.rows_of(lengths, work, workers, now_ms)),
        "workers": workers_table(workers, time.time()),
        "worker_count": len(workers),
        "failures": failures_table(failed.items),
        "alerts": [a for a in alerts if a.status == "firing"],
        "pending_alerts": [a for a in alerts if a.status == "pending"],
        "alert_label": alert_label,
    }


def throughput_chart(stats: Statistics, window_text: str) -> charts.BarChart:
    rates = [(point.start, point.jobs_per_minute) for point in stats.throughput]
    spans = charts.group_counts(rates, stats.bucket_s, stats.until)
    whole = stats.until - stats.since
    per = charts.length_text(spans[0].end - spans[0].start) if spans else window_text
    data = [
        charts.Datum(
            label=charts.span_label(s.start, whole), value=s.count, css="bar-throughput",
            title=f"{s.count} jobs finished from {s.start:%H:%M} to {s.end:%H:%M} UTC",
        )
        for s in spans
    ]  # fmt: skip
    return charts.bar_chart(
        data, f"Jobs finished per {per}, last {window_text} (UTC)", "Jobs finished", "Period from",
        empty_text=f"No job finished in the last {window_text}",
    )  # fmt: skip


def failure_rate_chart(stats: dict[str, Statistics]) -> charts.BarChart:
    data = []
    for window, window_text in WINDOWS.items():
        s = stats[window]
        failed = s.by_status.get(JobStatus.FAILURE, 0)
        measured = failed + s.by_status.get(JobStatus.SUCCESS, 0)
        rate = s.failure_rate
        data.append(
            charts.Datum(
                label=f"last {window_text}", value=None if rate is None else rate * 100,
                css="bar-failure", text="no jobs" if rate is None else charts.percent(rate),
                title=f"{failed} of {measured} finished jobs failed in the last {window_text}",
            )
        )  # fmt: skip
    # the plot is empty both when nothing finished and when nothing failed: say which
    finished = any(d.value is not None for d in data)
    empty_text = "No job failed in the last 7 d" if finished else "No job finished in the last 7 d"
    return charts.bar_chart(
        data, "Failure rate (failed of succeeded + failed)", "Failed", "Window", integer=False,
        tick_format="{:g} %", empty_text=empty_text,
    )  # fmt: skip


def timings_table(stats: Statistics, window_text: str) -> Table:
    table = Table(
        f"Wait and run times of the {stats.runtime.count:,} jobs finished in the last {window_text}",
        [Column("", names_row=True), Column("p50", numeric=True), Column("p95", numeric=True)],
        empty="No job finished in this window.",
    )
    if stats.runtime.count:
        table.add(
            "Wait (due → started)", duration(stats.wait_time.p50_s), duration(stats.wait_time.p95_s)
        )
        table.add(
            "Run (started → finished)", duration(stats.runtime.p50_s), duration(stats.runtime.p95_s)
        )
    return table


def queues_table(rows: list[QueueRow]) -> Table:
    table = Table(
        "Jobs per queue, now",
        [Column("Queue", names_row=True), Column("Ready", numeric=True), Column("Deferred", numeric=True),
         Column("Running", numeric=True), Column("Oldest wait", numeric=True)],
        css="stack",
        caption_visible=False,
    )  # fmt: skip
    for q in rows:
        table.add(
            q.queue, f"{q.ready:,}", f"{q.deferred:,}", f"{q.running:,}", duration(q.oldest_wait_s)
        )
    return table


def workers_table(workers: list[dict[str, Any]], now_s: float) -> Table:
    table = Table(
        "Live workers",
        [Column("Worker", names_row=True), Column("Host / pid"), Column("Queues"),
         Column("Running", numeric=True), Column("Memory", numeric=True),
         Column("Up", numeric=True), Column("Heartbeat", numeric=True)],
        empty="No worker is alive: nothing is being run.",
        css="stack",
        caption_visible=False,
    )  # fmt: skip
    for w in sorted(workers, key=lambda w: str(w.get("id", "")))[:WORKERS_LISTED]:
        rss = w.get("memory_rss_bytes")
        table.add(
            str(w.get("id", "?")),
            f"{w.get('host', '?')} / {w.get('pid', '?')}",
            ", ".join(str(q) for q in w.get("queues") or []),
            f"{len(w.get('running') or [])} of {w.get('concurrency', '?')}",
            f"{rss / 2**20:,.0f} MiB" if isinstance(rss, int | float) else "—",
            duration(now_s - w["started_at"]) if isinstance(w.get("started_at"), int | float) else "—",
            age(w["seen_ms"] / 1000) if isinstance(w.get("seen_ms"), int | float) else "—",
        )  # fmt: skip
    return table


def failures_table(failed: list[JobInfo]) -> Table:
    table = Table(
        f"Last {RECENT_FAILURES} failures",
        [Column("Failed"), Column("Task"), Column("Queue"), Column("Error"), Column("Job")],
        empty="No job has failed.",
        css="stack failures",
    )
    for job in failed:
        error = (job.error or "").strip()
        first_line = error.splitlines()[0] if error else "(no message)"
        table.add(
            Cell(age(job.completed_at), css="nowrap", title=when(job.completed_at) + " UTC"),
            job.task_name,
            job.queue,
            Cell(_shorten(first_line, 140), css="error", title=_shorten(error, 600)),
            Cell(job.task_id, href=f"/jobs/{job.task_id}", css="mono"),
        )  # fmt: skip
    return table


def alert_label(alert: AlertState) -> str:
    """What an alert watches, as its heading: "failure rate: ping", "recorder lag"."""
    rule = alert.rule.replace("_", " ")
    return f"{rule}: {alert.subject}" if alert.subject else rule


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
