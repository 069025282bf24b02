"""The Jobs and Job pages over real recorded jobs, signed in with session cookies: filters, search
and cursor paging return the right rows, a user sees only their own jobs, bad filters are a 400
page, and cancel / retry go through CSRF, confirmation and the control service."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.engine import run_until_recorded
from tests.support.pages import (  # noqa: F401  (the fixtures)
    Outline,
    PagesSite,
    Signed,
    admin_fixture,
    job_ids,
    site_fixture,
    user_fixture,
)
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.domain.job_info import PageRequest
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.registry import JobHandle, get_task
from voicepipe.history import monitoring
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.tasks.ping import ping


async def listed(signed: Signed, **query: Any) -> list[str]:
    path = "/jobs?" + urlencode(query, doseq=True) if query else "/jobs"
    return job_ids(await signed.page(path))


@dataclass
class Jobs:
    pings: list[str]  # the system's, oldest first
    echoes: list[str]  # the user's
    broken: str  # the user's, failed


@pytest.fixture(name="jobs")
async def jobs_fixture(user: Signed, resources: Resources) -> Jobs:
    echo = get_task("t_echo")

    async def enqueue() -> list[JobHandle]:
        handles = [await ping.enqueue(resources, payload=str(i)) for i in range(3)]
        handles += [await echo.enqueue(resources, owner_id=user.user_id, value=i) for i in range(2)]
        return [*handles, await get_task("t_broken").enqueue(resources, owner_id=user.user_id)]

    handles = [h.job_id for h in await run_until_recorded(resources, enqueue)]
    return Jobs(pings=handles[:3], echoes=handles[3:5], broken=handles[5])


async def newest_first(resources: Resources) -> list[str]:
    """Every job's id in the history's order: newest first, ties broken by id."""
    page = await monitoring.list_jobs(resources, page=PageRequest(limit=500))
    return [job.task_id for job in page.items]


async def test_the_list_is_newest_first_and_its_filters_and_search_pick_the_right_rows(
    admin: Signed, jobs: Jobs, resources: Resources
) -> None:
    everything = await newest_first(resources)
    assert sorted(everything) == sorted([*jobs.pings, *jobs.echoes, jobs.broken])

    def only(*ids: str) -> list[str]:
        return [job_id for job_id in everything if job_id in ids]

    html = await admin.page("/jobs")
    page = Outline.of(html)
    assert page.ids("data-job-id") == everything
    assert page.inline == 0 and 'data-live="job"' in html
    assert re.search(r'id="jobs-list"[^>]*data-region[^>]*data-hold', html)
    assert f"/jobs/{jobs.broken}" in page.links
    assert "corrupt input: this never gets better" in html and ">Owner<" in html
    assert f'data-job-status="{jobs.broken}"' in html

    assert await listed(admin, status="failure") == [jobs.broken]
    assert await listed(admin, status=["failure", "success"]) == everything
    assert await listed(admin, task="t_echo") == only(*jobs.echoes)
    assert await listed(admin, task="ping", status="success") == only(*jobs.pings)
    assert await listed(admin, queue="default") == everything
    assert await listed(admin, queue="maintenance") == []
    assert await listed(admin, q=jobs.broken[4:20]) == [jobs.broken]  # by id
    assert await listed(admin, q="never gets better") == [jobs.broken]  # by error
    assert await listed(admin, q="t_ech") == only(*jobs.echoes)  # by task
    # the empty fields a GET form sends mean "any"
    blank = {"queue": "", "task": "", "created_after": "", "created_before": "", "q": ""}
    assert await listed(admin, **blank) == everything
    # a time range, as datetime-local sends it (no zone: UTC)
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert await listed(admin, created_after=hour_ago, created_before=in_an_hour) == everything
    assert await listed(admin, created_after=in_an_hour) == []
    assert await listed(admin, created_before=hour_ago) == []
    empty = await admin.page("/jobs?queue=maintenance")
    assert "No job matches these filters." in empty
    assert re.search(r'<option value="maintenance" selected>', empty)


async def test_the_quick_ranges_keep_the_other_filters(admin: Signed, jobs: Jobs) -> None:
    html = await admin.page("/jobs?status=failure&task=t_broken")
    ranges = [link for link in Outline.of(html).links if "created_after=" in link]
    assert len(ranges) == 3
    for link in ranges:
        assert "status=failure" in link and "task=t_broken" in link
        assert job_ids(await admin.page(link)) == [jobs.broken]


async def test_cursor_paging_walks_every_row_once(admin: Signed, resources: Resources) -> None:
    async def enqueue() -> list[JobHandle]:
        return [await ping.enqueue(resources, payload=str(i)) for i in range(53)]

    ids = [h.job_id for h in await run_until_recorded(resources, enqueue)]
    everything = await newest_first(resources)
    assert sorted(everything) == sorted(ids)
    first = Outline.of(await admin.page("/jobs?task=ping"))
    assert first.ids("data-job-id") == everything[:50]
    older = [link for link in first.links if "cursor=" in link]
    assert len(older) == 1 and "task=ping" in older[0]
    second_html = await admin.page(older[0])
    second = Outline.of(second_html)
    assert second.ids("data-job-id") == everything[50:]
    assert "/jobs?task=ping" in second.links  # back to the newest page, filters kept
    assert not any("cursor=" in link for link in second.links)  # no page after the last
    assert "No older entries." in second_html


async def test_a_user_sees_only_their_jobs_and_no_one_elses(
    site: PagesSite, user: Signed, jobs: Jobs, resources: Resources
) -> None:
    html = await user.page("/jobs")
    mine = [i for i in await newest_first(resources) if i in (jobs.broken, *jobs.echoes)]
    assert len(mine) == 3 and job_ids(html) == mine
    assert ">Owner<" not in html
    assert await listed(user, task="ping") == []
    own = await user.page(f"/jobs/{jobs.broken}")
    assert "corrupt input: this never gets better" in own
    assert "/retry" not in own and "/cancel" not in own  # no admin actions
    theirs = await user.page(f"/jobs/{jobs.pings[0]}", status=404)
    nobody = await user.page("/jobs/no-such-job", status=404)
    assert "There is no job" in theirs and "There is no job" in nobody
    assert jobs.pings[0] not in theirs.replace(f"There is no job {jobs.pings[0]}.", "")
    anonymous = await site.anonymous.get("/jobs", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/login")


async def test_the_job_page_shows_the_facts_the_output_and_the_timeline(
    admin: Signed, jobs: Jobs, resources: Resources
) -> None:
    html = await admin.page(f"/jobs/{jobs.broken}")
    assert re.search(r'<dl class="facts">', html) and 'data-live-job="' + jobs.broken in html
    assert "ValueError: corrupt input" in html  # the traceback's last line
    assert re.search(r'<pre class="code">Traceback', html)
    timeline = await monitoring.get_job_timeline(resources, jobs.broken)
    assert [e.event for e in timeline] == ["queued", "started", "failure"]
    for event in ("queued", "started", "failure"):
        assert f'<td data-label="Event">{event}</td>' in html
    assert f'action="/jobs/{jobs.broken}/retry"' in html  # failed: retry only
    assert "/cancel" not in html and "/terminate" not in html
    done = await admin.page(f"/jobs/{jobs.echoes[0]}")
    assert "&#34;value&#34;: 0" in done or '"value": 0' in done  # the result, as JSON
    assert 'action="/jobs/' not in done  # a success allows no action
    assert "user #" in done  # an admin sees whose job it is


async def test_bad_filters_are_a_400_page_that_says_why(admin: Signed) -> None:
    cases = {
        "status=bogus": "is not a job status",
        "queue=nowhere": "is not a queue",
        "task=no_such_task": "is not a registered task",
        "created_after=yesterday": "is not a date and time",
        "created_after=2030-01-02T00:00&created_before=2030-01-01T00:00": "must be earlier",
        "q=ab": "at least 3 characters",
        "q=" + "x" * 201: "longer than 200",
        "cursor=garbage": "cursor",
        "q=abc%00def": "NUL",
        "created_before=0001-01-01T00:00%2B05:00": "is not a date and time",
    }
    for query, message in cases.items():
        html = await admin.page(f"/jobs?{query}", status=400)
        assert message in html, (query, html[-1500:])
    assert "There is no job" in await admin.page("/jobs/x%00y", status=404)


async def test_cancel_asks_first_needs_the_csrf_token_and_cancels(
    admin: Signed, resources: Resources
) -> None:
    handle = await ping.enqueue(resources, countdown_s=3600)
    await record_pending(resources)
    path = f"/jobs/{handle.job_id}"
    html = await admin.page(path)
    assert f'action="{path}/cancel"' in html and "data-confirm=" in html
    assert f'action="{path}/retry"' not in html

    refused = await admin.post_response(f"{path}/cancel", csrf=False)
    assert refused.status == 403
    status, asked = await admin.post(f"{path}/cancel", confirmed=False)
    assert status == 200 and "Cancel job " + handle.job_id in asked
    assert 'name="confirmed" value="yes"' in asked
    await record_pending(resources)
    job = await monitoring.get_job_info(resources, handle.job_id)
    assert job is not None and job.status is JobStatus.SCHEDULED  # nothing changed yet

    done = await admin.post_response(f"{path}/cancel")
    assert done.status == 303 and done.headers["Location"] == path
    await record_pending(resources)
    job = await monitoring.get_job_info(resources, handle.job_id)
    assert job is not None and job.status is JobStatus.CANCELLED
    text = await admin.page(path)  # the jar has the message
    assert f"Job {handle.job_id} cancelled." in text
    assert f'action="{path}/retry"' in text and f'action="{path}/cancel"' not in text

    again = await admin.post_response(f"{path}/cancel")  # refused: shown, not raised
    assert again.status == 303
    assert "only queued or running jobs" in await admin.page(path)


async def test_retry_asks_first_then_reruns_and_links_the_new_job(
    admin: Signed, user: Signed, jobs: Jobs, resources: Resources
) -> None:
    path = f"/jobs/{jobs.broken}"
    status, asked = await admin.post(f"{path}/retry", confirmed=False)
    assert status == 200 and "Retry job" in asked
    assert await resources.redis.get(keys.retried_as(jobs.broken)) is None

    user_tries = await user.post_response(f"{path}/retry")
    assert user_tries.status == 403  # actions are for admins, even on one's own job

    done = await admin.post_response(f"{path}/retry")
    assert done.status == 303
    new_id = (await resources.redis.get(keys.retried_as(jobs.broken))).decode()
    html = await admin.page(path)
    assert f"Job {jobs.broken} retried as job {new_id}." in html
    assert f'href="/jobs/{new_id}"' in html and f'action="{path}/retry"' not in html
    await record_pending(resources)

    async def rerun_recorded() -> bool:
        rerun = await monitoring.get_job_info(resources, new_id)
        return rerun is not None and rerun.retry_of == jobs.broken

    await eventually(rerun_recorded, what="the rerun recorded")
    rerun_page = await admin.page(f"/jobs/{new_id}")
    assert f'href="/jobs/{jobs.broken}"' in rerun_page  # "Retry of" links back
