"""The claim script writes the running entry and the started event with cjson: an unusual job id
(quotes, non-ASCII) must give the same, valid JSON as a plain one."""

from __future__ import annotations

import json

from tests.support.engine import stream_events
from tests.support.jobs import echo
from voicepipe import keys
from voicepipe.domain.jobs import JobPriority
from voicepipe.engine.registry import broker_for
from voicepipe.resources import Resources


async def _started_events(resources: Resources) -> dict[str, dict[str, object]]:
    return {e["job_id"]: e for e in await stream_events(resources) if e["event"] == "started"}


async def test_plain_and_unusual_job_ids_get_the_same_records(resources: Resources) -> None:
    plain = await echo.enqueue(resources, value=1, priority=JobPriority.HIGH, job_id="plain-id.1:x")
    odd = await echo.enqueue(resources, value=2, priority=JobPriority.HIGH, job_id='odd "id" é')
    claimed, _ = await broker_for(resources).claim("default", "host:1:abc", 10, live=False)
    assert {job.job_id for job in claimed} == {plain.job_id, odd.job_id}
    running = await resources.redis.hgetall(keys.running("default"))
    started = await _started_events(resources)
    records = {}
    for job_id in (plain.job_id, odd.job_id):
        entry = json.loads(running[job_id.encode()])
        event = started[job_id]
        at = event.pop("at")
        assert abs(at - entry["started_ms"] / 1000) < 0.002
        assert event.pop("job_id") == job_id
        records[job_id] = (entry | {"started_ms": 0}, event)
    assert records[plain.job_id] == records[odd.job_id]
    entry, event = records[plain.job_id]
    assert entry == {"worker": "host:1:abc", "started_ms": 0, "try": 1, "task": "t_echo"}
    assert event == {"event": "started", "task": "t_echo", "queue": "default", "try": 1,
                     "priority": int(JobPriority.HIGH), "owner_id": None,
                     "worker": "host:1:abc"}  # fmt: skip
