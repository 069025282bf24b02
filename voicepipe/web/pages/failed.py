"""The Failed page (GET /failed, admins): the dead letter (jobs that failed for good and were not
retried), newest failure first, narrowed by task, queue and text, with retry one, retry the
selected and retry all that match the filter (services.control; a job someone retried meanwhile
is counted, not refused)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from voicepipe.domain.job_info import JobFilters, JobInfo, PageRequest
from voicepipe.engine.registry import REGISTRY
from voicepipe.history import monitoring
from voicepipe.services import control
from voicepipe.settings import QUEUES
from voicepipe.web.context import resources_of
from voicepipe.web.pages import actions
from voicepipe.web.pages.render import render_page
from voicepipe.web.pages.session import require_admin

ROUTES = web.RouteTableDef()

PAGE_ROWS = 50
COUNT_UP_TO = 1000  # the matching dead letter is counted this far, then "more than"
MAX_FIELD_CHARS = 200


@dataclass(frozen=True)
class Filter:
    """The page's filter as the reader typed it ("" for none), and as a JobFilters."""

    task: str = ""
    queue: str = ""
    q: str = ""

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Filter:
        def text(name: str) -> str:
            value = fields.get(name)
            return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""

        return cls(text("task"), text("queue"), text("q"))

    def job_filters(self) -> JobFilters:
        return JobFilters(
            task_name=self.task or None, queue=self.queue or None, search=self.q or None
        )

    def url(self, cursor: str | None = None) -> str:
        """/failed with this filter (and page)."""
        fields = {"task": self.task, "queue": self.queue, "q": self.q, "cursor": cursor or ""}
        query = urlencode({name: value for name, value in fields.items() if value})
        return "/failed" + (f"?{query}" if query else "")

    def said(self) -> str:
        """The filter in words: "" for none, else " matching task t, queue q, "text"."."""
        parts = [f"task {self.task}"] * bool(self.task) + [f"queue {self.queue}"] * bool(self.queue)
        parts += [f"“{self.q}”"] * bool(self.q)
        return " matching " + ", ".join(parts) if parts else ""


@ROUTES.get("/failed", name="failed")
async def failed(request: web.Request) -> web.Response:
    user = await require_admin(request)
    chosen = Filter.of(request.query)
    cursor = request.query.get("cursor") or None
    resources = resources_of(request)
    page, matching = await asyncio.gather(
        monitoring.get_failed_tasks(resources, PageRequest(limit=PAGE_ROWS, cursor=cursor), filters=chosen.job_filters()),
        monitoring.count_failed(resources, chosen.job_filters(), COUNT_UP_TO),
    )  # fmt: skip
    return render_page(request, "failed.html", user, "failed", {
        "live": "job", "filter": chosen, "jobs": [Row.of(job) for job in page.items],
        "tasks": sorted(REGISTRY), "queues": QUEUES, "cursor": cursor or "",
        "matching": matching, "matching_text": count_text(matching),
        "first_url": chosen.url(), "on_first_page": cursor is None,
        "next_url": chosen.url(page.next_cursor) if page.next_cursor else None,
    })  # fmt: skip


def count_text(matching: int) -> str:
    """ "1 failed job", "1,000 failed jobs", "more than 1,000 failed jobs"."""
    if matching > COUNT_UP_TO:
        return f"more than {COUNT_UP_TO:,} failed jobs"
    return f"{matching:,} failed job" + ("" if matching == 1 else "s")


@dataclass(frozen=True)
class Row:
    """One dead-letter job as its row shows it."""

    job: JobInfo
    first_line: str
    error: str

    @classmethod
    def of(cls, job: JobInfo) -> Row:
        error = (job.error or "").strip()
        first = error.splitlines()[0] if error else "(no message)"
        return cls(job, first if len(first) <= 160 else first[:159] + "…", error)

    @property
    def has_more(self) -> bool:
        return self.error != self.first_line


@ROUTES.post("/failed/{job_id}/retry")
async def retry_one(request: web.Request) -> web.Response:
    user = await require_admin(request)
    form = await actions.posted(request)
    job_id = request.match_info["job_id"]
    back = Filter.of(form).url(_cursor(form))
    if not actions.confirmed(form):
        return actions.confirmation(request, user, form, question=f"Retry job {job_id}?",
                                    button="Retry job", back=back, active="failed")  # fmt: skip
    return await actions.run(
        back, _retried(control.retry_selected(resources_of(request), [job_id]))
    )


@ROUTES.post("/failed/retry-selected")
async def retry_selected(request: web.Request) -> web.Response:
    user = await require_admin(request)
    form = await actions.posted(request)
    job_ids = [value for value in form.getall("job_id", []) if isinstance(value, str)]
    back = Filter.of(form).url(_cursor(form))
    if not job_ids:
        return actions.redirect(back, "error", "Select the jobs to retry first.")
    if not actions.confirmed(form):
        count = f"{len(job_ids)} selected job" + ("" if len(job_ids) == 1 else "s")
        return actions.confirmation(request, user, form, question=f"Retry the {count}?",
                                    button="Retry selected", back=back, active="failed")  # fmt: skip
    retrying = control.retry_selected(resources_of(request), job_ids)
    return await actions.run(back, _retried(retrying))


@ROUTES.post("/failed/retry-matching")
async def retry_matching(request: web.Request) -> web.Response:
    user = await require_admin(request)
    form = await actions.posted(request)
    chosen = Filter.of(form)
    back = chosen.url()
    if not actions.confirmed(form):
        resources = resources_of(request)
        matching = await monitoring.count_failed(resources, chosen.job_filters(), COUNT_UP_TO)
        return actions.confirmation(
            request, user, form, question=f"Retry all {count_text(matching)}{chosen.said()}?",
            button="Retry all matching", back=back, active="failed",
            details=["Each runs again as a new job with the same arguments."],
        )  # fmt: skip
    retrying = control.retry_matching(resources_of(request), chosen.job_filters())
    return await actions.run(back, _retried(retrying))


def _cursor(form: actions.Form) -> str | None:
    value = form.get("cursor")
    return value if isinstance(value, str) and value else None


async def _retried(retrying: Awaitable[control.RetryOutcome]) -> str:
    """What a retry did, in words: "Retried 3 jobs. 1 was retried already."."""
    outcome = await retrying
    done = len(outcome.new_job_ids)
    said = [f"Retried {done} job{'' if done == 1 else 's'}."]
    already = len(outcome.already_retried)
    if already:
        said.append(f"{already} {'was' if already == 1 else 'were'} retried already.")
    if outcome.refused:
        first = next(iter(outcome.refused.values()))
        count = len(outcome.refused)
        said.append(f"{count} could not be retried ({first}{', …' if count > 1 else ''}).")
    return " ".join(said)
