"""Outcomes are queued by `Broker.finish` and written in the background, many jobs per script call."""

from __future__ import annotations

from tests.support.engine import stream_events
from tests.support.jobs import echo
from voicepipe import keys
from voicepipe.engine.events import make_event
from voicepipe.engine.registry import broker_for
from voicepipe.resources import Resources


async def _evalsha_calls(resources: Resources) -> int:
    """Script runs that got through (the first of a script is refused: NOSCRIPT, then loaded)."""
    stats = (await resources.redis.info("commandstats")).get("cmdstat_evalsha", {})
    return (
        int(stats.get("calls", 0))
        - int(stats.get("rejected_calls", 0))
        - int(stats.get("failed_calls", 0))
    )


async def test_outcomes_are_written_in_the_background_in_one_script_call(
    resources: Resources,
) -> None:
    handles = [await echo.enqueue(resources, value=n) for n in range(3)]
    broker = broker_for(resources)
    claimed, _ = await broker.claim("default", "host:1:abc", 10, live=False)
    assert len(claimed) == 3
    stopped = claimed[0].job_id
    await resources.redis.hset(keys.STOP_REQUESTS, stopped, "cancel")
    calls_before = await _evalsha_calls(resources)

    for job in claimed:
        event = make_event(
            "success", job_id=job.job_id, task=job.task, queue=job.queue,
            try_number=job.try_number, priority=job.priority, worker="host:1:abc", result=job.kwargs,
        )  # fmt: skip
        broker.finish(job, True, job.kwargs["value"], event, live=False)
    # queued, not written: the jobs still show as running
    assert await resources.redis.hlen(keys.running("default")) == 3

    await broker.written()
    assert await _evalsha_calls(resources) - calls_before == 1
    assert await resources.redis.hlen(keys.running("default")) == 0
    assert not await resources.redis.exists(*(keys.job(j.job_id) for j in claimed))
    assert not await resources.redis.hexists(keys.STOP_REQUESTS, stopped)  # nothing left to stop
    assert sorted([await h.result(timeout_s=1) for h in handles]) == [0, 1, 2]
    written = await stream_events(resources)
    assert [e["event"] for e in written] == ["queued"] * 3 + ["started"] * 3 + ["success"] * 3
    assert {e["job_id"] for e in written[-3:]} == {h.job_id for h in handles}
    # one stream entry per script: the claim's started events, the outcomes
    assert await resources.redis.xlen(keys.EVENTS) == 3 + 1 + 1
