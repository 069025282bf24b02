#!/usr/bin/env python3
"""Benchmark the event recorder: lifecycle events per second folded into PostgreSQL.

Writes N jobs' queued, started and success events to the stream the way the engine does
(pipelined), then times one recorder, and then two recorders side by side, draining the stream
into a scratch database. The baseline is the rate at which the events were written to Redis in the
same run: a ratio of at least 1 means the recorder keeps up with producers like this one.
Starts embedded servers unless REDIS_URL and DATABASE_URL are set (then Redis must be one no
worker uses; the events go to a scratch database). With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.lifecycles import Life, emit
from voicepipe import keys
from voicepipe.db.migrate import migrate
from voicepipe.embedded.servers import servers_for
from voicepipe.engine.heartbeats import live_worker_ids
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources, open_resources
from voicepipe.settings import Settings, load_settings


def lives(prefix: str, jobs: int) -> list[Life]:
    t0_s = time.time()
    made = []
    for i in range(jobs):
        at = t0_s + i / 1000
        life = Life(f"{prefix}-{i}").queued(at)
        made.append(life.add("started", at + 0.001).add("success", at + 0.002, result=i))
    return made


async def produce(resources: Resources, prefix: str, jobs: int) -> tuple[int, float]:
    """Write the events in the engine's interleaving (each job's own order kept); events, seconds."""
    events = [e for life in lives(prefix, jobs) for e in life.events]
    started = time.perf_counter()
    for i in range(0, len(events), 1000):
        await emit(resources.redis, events[i : i + 1000])
    return len(events), time.perf_counter() - started


async def drain(resources: Resources, consumers: int, batch_size: int) -> float:
    recorders = [Recorder(resources, f"bench-{i}", batch_size=batch_size) for i in range(consumers)]
    started = time.perf_counter()

    async def one(recorder: Recorder) -> None:
        while await recorder.drain_once():
            pass

    await asyncio.gather(*(one(r) for r in recorders))
    return time.perf_counter() - started


async def scratch_database(url: str) -> str:
    name = f"bench_recorder_{os.getpid()}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    scratch = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(scratch)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return scratch


async def drop_database(url: str, scratch: str) -> None:
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(scratch).path[1:]}" WITH (FORCE)')
    finally:
        await admin.close()


async def bench(settings: Settings, jobs: int, batch_size: int) -> dict[str, float | int]:
    assert settings.database_url is not None
    scratch = await scratch_database(settings.database_url)
    figures: dict[str, float | int] = {"jobs": jobs, "batch_size": batch_size}
    try:
        async with open_resources(settings.model_copy(update={"database_url": scratch})) as res:
            if await res.redis.xlen(keys.EVENTS) or await live_worker_ids(res.redis):
                raise SystemExit(
                    "bench_recorder: this Redis is in use (events or workers); give it its own"
                )
            await Recorder(res, "bench-0").ensure_group()
            for consumers in (1, 2):
                events, produce_s = await produce(res, f"run{consumers}", jobs)
                record_s = await drain(res, consumers, batch_size)
                recorded = await res.db.fetchval(
                    "SELECT count(*) FROM jobs WHERE status = 'success' AND task_id LIKE $1",
                    f"run{consumers}-%",
                )
                figures |= {
                    "events": events,
                    f"produce{consumers}_events_per_s": round(events / produce_s),
                    f"recorder{consumers}_events_per_s": round(events / record_s),
                    f"recorder{consumers}_jobs_recorded": recorded,
                    f"recorder{consumers}_ratio_vs_produce": round(produce_s / record_s, 3),
                }
            figures["stream_left"] = await res.redis.xlen(keys.EVENTS)
    finally:
        await drop_database(settings.database_url, scratch)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as home:
        base = load_settings(home=Path(home))
        with servers_for(base) as settings:
            figures = asyncio.run(
                bench(settings, args.jobs, args.batch_size or settings.recorder_batch_size)
            )
    for name, value in figures.items():
        print(f"{name:>32}: {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
