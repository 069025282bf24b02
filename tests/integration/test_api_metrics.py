"""GET /metrics: Prometheus text computed from PostgreSQL and Redis, the same from every web process."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from tests.support.lifecycles import Life, emit
from voicepipe import keys
from voicepipe.engine.heartbeats import write_heartbeat
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources
from voicepipe.settings import Settings
from voicepipe.web.app import init_app

T0 = time.time() - 3600


def _job(job_id: str, task: str, end: str, run_s: float) -> Life:
    life = Life(job_id, task=task).queued(T0).add("started", T0 + 1)
    return life.add(end, T0 + 1 + run_s, error="e" if end == "failure" else None)  # type: ignore[arg-type]


async def _scrape(
    client: TestClient[Any, Any], token: str | None = None
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200 and response.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_agree_across_web_processes(settings: Settings, resources: Resources) -> None:
    lives = [_job("a1", "a", "success", 0.2), _job("a2", "a", "success", 2.0),
             _job("a3", "a", "failure", 20.0), _job("b1", "b", "success", 0.02),
             Life("p1", task="b").queued(T0)]  # fmt: skip
    await emit(resources.redis, [e for life in lives for e in life.events])
    await Recorder(resources, "test").flush()
    await emit(resources.redis, Life("late", task="b").queued(T0).events)  # not recorded yet
    await write_heartbeat(resources.redis, "w1", {"id": "w1"})
    await resources.redis.zadd(keys.queue("consensus"), {"x": 1})
    async with (
        TestClient(TestServer(init_app(settings))) as one,
        TestClient(TestServer(init_app(settings))) as two,
    ):
        first, second = await _scrape(one), await _scrape(two)
    assert first == second
    jobs = {labels: v for (name, labels), v in first.items() if name == "voicepipe_jobs"}
    assert jobs == {
        (("status", "success"), ("task", "a")): 2, (("status", "failure"), ("task", "a")): 1,
        (("status", "success"), ("task", "b")): 1, (("status", "pending"), ("task", "b")): 1,
    }  # fmt: skip
    assert first[("voicepipe_queue_jobs", (("queue", "consensus"), ("state", "ready")))] == 1
    assert first[("voicepipe_workers_alive", ())] == 1
    assert first[("voicepipe_recorder_lag_events", ())] == 1  # the late event waits in the stream
    runtime = {dict(labels)["le"]: v for (name, labels), v in first.items()
               if name == "voicepipe_job_runtime_seconds_bucket"}  # fmt: skip
    assert (runtime["0.05"], runtime["0.5"], runtime["5"], runtime["30"], runtime["+Inf"]) == (
        1,
        2,
        3,
        4,
        4,
    )
    assert first[("voicepipe_job_runtime_seconds_count", ())] == 4


async def test_metrics_token_when_configured(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": "s3cret"})
    async with TestClient(TestServer(init_app(guarded))) as client:
        assert (await client.get("/metrics")).status == 401
        bad = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert bad.status == 401 and (await bad.json())["error"]["status"] == 401
        assert await _scrape(client, "s3cret")
