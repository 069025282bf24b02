"""The Failed page over jobs a real worker failed: it lists exactly the dead letter (failed for good,
not retried), its filters narrow it, and retry one / selected / all matching retry exactly those
(new jobs queued, the originals out of the dead letter), behind the CSRF token, a confirmation
and the admin role; the services.control additions underneath count a job retried meanwhile."""

from __future__ import annotations

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.engine import RunningWorker, run_until_recorded
from tests.support.pages import (  # noqa: F401  (the fixtures)
    Signed,
    admin_fixture,
    job_ids,
    site_fixture,
    user_fixture,
)
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.domain.job_info import JobFilters, PageRequest
from voicepipe.engine.registry import JobHandle, get_task
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.services import control
from voicepipe.tasks.ping import ping


async def fail_jobs(
    resources: Resources, broken: int, bad_pings: int = 0, pings: int = 0
) -> list[str]:
    """`broken` t_broken jobs, `bad_pings` pings with a bad argument (both fail for good) and
    `pings` good ones, run by a real worker and recorded; the ids, in that order."""

    async def enqueue() -> list[JobHandle]:
        handles = [await get_task("t_broken").enqueue(resources) for _ in range(broken)]
        handles += [await ping.enqueue(resources, no_such_argument=1) for _ in range(bad_pings)]
        return handles + [await ping.enqueue(resources, payload="ok") for _ in range(pings)]

    return [h.job_id for h in await run_until_recorded(resources, enqueue)]


async def wait_recorded_reruns(resources: Resources, originals: list[str]) -> None:
    """Run a worker until a rerun of each of `originals` is recorded (its history then knows the
    originals were retried)."""
    worker = RunningWorker(resources, ["default"])
    try:

        async def reruns_recorded() -> bool:
            failed = await monitoring.get_failed_tasks(resources, PageRequest(limit=500))
            return not {job.task_id for job in failed.items} & set(originals)

        await eventually(reruns_recorded, timeout_s=20, what="the reruns recorded")
    finally:
        await worker.close()


async def test_the_page_lists_exactly_the_dead_letter_newest_first_and_filters_it(
    admin: Signed, resources: Resources
) -> None:
    broken = await fail_jobs(resources, broken=2, bad_pings=1, pings=2)
    good = broken[3:]
    retried_before = broken[0]
    await control.retry(resources, retried_before)  # retried: out of the dead letter at once
    status, html = await admin.get("/failed")
    assert status == 200
    expected = [job.task_id for job in (await monitoring.get_failed_tasks(resources)).items]
    assert sorted(expected) == sorted(broken[1:3])
    assert job_ids(html) == expected  # the service's order: newest failure first
    assert retried_before not in job_ids(html) and not set(good) & set(job_ids(html))
    assert "corrupt input: this never gets better" in html
    assert f'href="/jobs/{broken[1]}"' in html
    assert 'data-select-all="job_id"' in html and "data-hold" in html
    assert 'data-live="job"' in html
    assert "Retry all 2 failed jobs?" in html  # the question of the retry-all button
    assert "style=" not in html and "<script>" not in html

    _, by_task = await admin.get("/failed?task=t_broken")
    assert job_ids(by_task) == [broken[1]]
    _, by_text = await admin.get("/failed?q=never+gets+better")
    assert job_ids(by_text) == [broken[1]]
    _, by_queue = await admin.get("/failed?queue=maintenance")
    assert job_ids(by_queue) == [] and "No failed job matching queue maintenance." in by_queue
    _, both = await admin.get("/failed?queue=default&task=ping")
    assert job_ids(both) == [broken[2]]
    assert 'value="ping"' in both  # the filter form keeps what was chosen


async def test_pages_of_the_dead_letter_follow_the_cursor(
    admin: Signed, resources: Resources
) -> None:
    failed = await fail_jobs(resources, broken=3)
    page = await monitoring.get_failed_tasks(resources, PageRequest(limit=2))
    assert page.next_cursor is not None
    _, html = await admin.get("/failed")
    assert len(job_ids(html)) == 3 and "Older" not in html  # 50 a page: one page
    _, second = await admin.get(f"/failed?cursor={page.next_cursor}")
    assert job_ids(second) == [j for j in failed if j not in {x.task_id for x in page.items}]
    assert "← Newest" in second
    bad, _ = await admin.get("/failed?cursor=nonsense")
    assert bad == 400


async def test_retry_one_retries_that_job_once(admin: Signed, resources: Resources) -> None:
    first, second = await fail_jobs(resources, broken=2)
    status, html = await admin.post(f"/failed/{first}/retry", [("task", "t_broken")])
    assert status == 303
    assert "Retried 1 job." in html
    assert job_ids(html) == [second]  # back on the filtered page, the retried job gone
    new_id = (await resources.redis.get(keys.retried_as(first))).decode()
    assert await resources.redis.exists(keys.job(new_id))  # the rerun is queued
    assert not await resources.redis.exists(keys.retried_as(second))

    status, again = await admin.post(f"/failed/{first}/retry")
    assert status == 303 and "Retried 0 jobs. 1 was retried already." in again
    await wait_recorded_reruns(resources, [first])
    rerun = await monitoring.get_job_info(resources, new_id)
    assert rerun is not None and rerun.retry_of == first


async def test_retry_selected_retries_the_ticked_jobs_only(
    admin: Signed, resources: Resources
) -> None:
    a, b, c = await fail_jobs(resources, broken=3)
    status, html = await admin.post("/failed/retry-selected", [("job_id", a), ("job_id", c)])
    assert status == 303 and "Retried 2 jobs." in html
    assert job_ids(html) == [b]
    for job_id, retried in ((a, True), (b, False), (c, True)):
        assert bool(await resources.redis.exists(keys.retried_as(job_id))) is retried
    await wait_recorded_reruns(resources, [a, c])
    still = await monitoring.get_failed_tasks(resources)
    assert b in {job.task_id for job in still.items}

    nothing, empty = await admin.post("/failed/retry-selected", [])
    assert nothing == 303 and "Select the jobs to retry first." in empty


async def test_retry_all_matching_retries_what_the_filter_matches(
    admin: Signed, resources: Resources
) -> None:
    *brokens, bad_ping = await fail_jobs(resources, broken=3, bad_pings=1)
    _, page = await admin.get("/failed?task=t_broken")
    assert "Retry all 3 failed jobs matching task t_broken?" in page  # the data-confirm question
    await control.retry(resources, brokens[0])  # retried meanwhile, by someone else
    status, html = await admin.post(
        "/failed/retry-matching", [("task", "t_broken"), ("queue", ""), ("q", "")]
    )
    assert status == 303
    assert "Retried 2 jobs. 1 was retried already." in html
    assert job_ids(html) == []  # the filtered page is empty now
    _, unfiltered = await admin.get("/failed")
    assert job_ids(unfiltered) == [bad_ping]  # the job the filter left out was not retried
    await wait_recorded_reruns(resources, brokens)


async def test_nothing_happens_without_the_token_or_the_confirmation(
    admin: Signed, resources: Resources
) -> None:
    (job_id,) = await fail_jobs(resources, broken=1)
    for path, data in (
        (f"/failed/{job_id}/retry", []),
        ("/failed/retry-selected", [("job_id", job_id)]),
        ("/failed/retry-matching", []),
    ):
        status, _ = await admin.post(path, data, csrf=False)
        assert status == 403, path
        status, asked = await admin.post(path, data, confirmed=False)
        assert status == 200, path
        assert 'name="confirmed" value="yes"' in asked and "Retry" in asked
        assert not await resources.redis.exists(keys.retried_as(job_id)), path
    _, question = await admin.post("/failed/retry-matching", [], confirmed=False)
    assert "Retry all 1 failed job?" in question
    _, selected = await admin.post("/failed/retry-selected", [("job_id", job_id)], confirmed=False)
    assert "Retry the 1 selected job?" in selected and f'value="{job_id}"' in selected
    status, done = await admin.post(f"/failed/{job_id}/retry")  # the same POST, confirmed: done
    assert status == 303 and "Retried 1 job." in done


async def test_the_failed_page_and_its_actions_are_for_admins(
    user: Signed, resources: Resources
) -> None:
    (job_id,) = await fail_jobs(resources, broken=1)
    assert (await user.get("/failed"))[0] == 403
    assert (await user.get("/notifications/system"))[0] == 403
    for path in (f"/failed/{job_id}/retry", "/failed/retry-matching"):
        assert (await user.post(path, [("job_id", job_id)]))[0] == 403
    assert not await resources.redis.exists(keys.retried_as(job_id))
    assert (await user.get("/notifications"))[0] == 200  # their own pages they do get


async def test_retry_selected_counts_what_it_could_not_retry(resources: Resources) -> None:
    broken, good = await fail_jobs(resources, broken=1, pings=1)
    outcome = await control.retry_selected(resources, [broken, broken, good, "nosuchjob"])
    assert len(outcome.new_job_ids) == 1 and outcome.already_retried == []
    assert set(outcome.refused) == {good, "nosuchjob"}
    assert "only failed or cancelled jobs" in outcome.refused[good]
    again = await control.retry_selected(resources, [broken])
    assert again.new_job_ids == [] and again.already_retried == [broken]
    matching = await control.retry_matching(resources, JobFilters(task_name="t_broken"))
    assert matching.new_job_ids == [] and matching.already_retried == [broken]  # PG lags: counted
    assert await monitoring.count_failed(resources, JobFilters(), 1000) == 0
