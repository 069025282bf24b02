"""`voicepipe bench audio --pipeline`: recordings uploaded through the API to processed chunks.

A client uploads N speech-like 44.1 kHz stereo WAVs to a `voicepipe web` child, a few at a time,
and polls each recording until it is processed; one `voicepipe worker` child serves the
audio_processing queue with its CPU pool (one process per core). Wall time runs from the first
upload to the last recording processed: upload, sniffing, hashing, the job's decode, chunking,
quality, FLAC export and the database writes are all inside it. The baseline, measured in the
same run: `voicepipe chunk`'s work (decode + chunk, nothing stored) on one of the files, in a
fresh process on one core; the platform on all cores is reported against cores × that.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from aiohttp import ClientSession, ClientTimeout, FormData

from voicepipe.bench.api import Server
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.settings import child_environment

Say = Callable[[str], None]
UPLOADS_AT_ONCE = 4
POLL_S = 0.5
SAMPLE_S = 0.2  # how often the worker's memory and CPU time are read

METHOD = (
    "{n} speech-like 44.1 kHz stereo 16-bit WAVs of {minutes} min uploaded over HTTP to one "
    "`voicepipe web` ({at_once} at a time), processed by one `voicepipe worker` on queue "
    "audio_processing ({cpus} CPU processes); wall = first upload to last recording processed; "
    "worker memory sampled every {sample}s (RSS of the worker alone, PSS summed over it and its CPU "
    "children); baseline "
    "= decode + chunk of one file in a fresh process pinned to one core"
)


@dataclass
class WorkerWatch:
    """Peak memory and CPU time of the worker process and its CPU children while it runs.

    The family's memory is the sum of PSS (each shared page counted once, split among its
    sharers): summed RSS would count the libraries every child maps several times."""

    proc: psutil.Process
    peak_worker_rss_mb: float = 0.0
    peak_family_pss_mb: float = 0.0
    cpu_s: float = 0.0

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak_worker_rss_mb = max(
                self.peak_worker_rss_mb, self.proc.memory_info().rss / 2**20
            )
            pss, cpu = 0.0, 0.0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    pss += p.memory_full_info().pss / 2**20
                    times = p.cpu_times()
                    cpu += times.user + times.system
            self.peak_family_pss_mb = max(self.peak_family_pss_mb, pss)
            self.cpu_s = max(self.cpu_s, cpu)


@contextlib.asynccontextmanager
async def worker_child(resources: Resources, cpus: int) -> AsyncIterator[psutil.Process]:
    env = child_environment(resources.settings, {
        "VOICEPIPE_LOG_LEVEL": "WARNING", "VOICEPIPE_CPU_WORKERS": str(cpus),
    })  # fmt: skip
    argv = [sys.executable, "-m", "voicepipe", "worker", "--queues", "audio_processing",
            "--no-supervise"]  # fmt: skip
    proc = await asyncio.to_thread(subprocess.Popen, argv, env=env, stdin=subprocess.DEVNULL)
    try:
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 60)


async def _upload(http: ClientSession, url: str, token: str, path: Path) -> int:
    with path.open("rb") as f:
        form = FormData()
        form.add_field("file", f, filename=path.name, content_type="audio/wav")
        async with http.post(
            f"{url}/api/recordings", data=form, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            body = await response.json()
            if response.status != 202:
                raise RuntimeError(f"upload of {path.name}: {response.status} {body}")
    return int(body["recording_id"])


async def _processed(
    http: ClientSession, url: str, token: str, recording_id: int
) -> dict[str, Any]:
    while True:
        async with http.get(
            f"{url}/api/recordings/{recording_id}", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            body: dict[str, Any] = await response.json()
        if body.get("status") in ("processed", "failed"):
            return body
        await asyncio.sleep(POLL_S)


async def _until_ready(http: ClientSession, url: str, token: str, path: Path) -> None:
    """One small recording through, so the worker's CPU children are warm before the clock runs."""
    await _processed(http, url, token, await _upload(http, url, token, path))


async def run_pipeline_bench(
    resources: Resources, files: list[Path], warm_file: Path, cpus: int, say: Say
) -> dict[str, Any]:
    admin = await create_user(resources.db, "bench-pipeline@example.org")
    token = admin.token
    async with (
        Server(resources) as url,
        worker_child(resources, cpus) as worker,
        ClientSession(timeout=ClientTimeout(total=None)) as http,
    ):
        say("warming up the worker (one short recording)…")
        await _until_ready(http, url, token, warm_file)
        watch = WorkerWatch(worker)
        watch.sample()
        cpu_before_s = watch.cpu_s
        watch.cpu_s = 0.0
        slots = asyncio.Semaphore(UPLOADS_AT_ONCE)
        done: list[dict[str, Any]] = []

        async def one(path: Path) -> None:
            async with slots:
                recording_id = await _upload(http, url, token, path)
            done.append(await _processed(http, url, token, recording_id))
            say(f"  {len(done)}/{len(files)} processed")

        async def sampling() -> None:
            while True:
                watch.sample()
                await asyncio.sleep(SAMPLE_S)

        sampler = asyncio.create_task(sampling())
        started = time.perf_counter()
        try:
            await asyncio.gather(*(one(path) for path in files))
        finally:
            wall_s = time.perf_counter() - started
            watch.sample()
            sampler.cancel()
    failed = [r for r in done if r["status"] != "processed"]
    if failed:
        raise RuntimeError(f"{len(failed)} recordings failed: {failed[0].get('error')}")
    audio_s = sum(float(r["duration_s"]) for r in done)
    cpu_s = watch.cpu_s - cpu_before_s
    return {
        "recordings": len(done),
        "audio_min": round(audio_s / 60, 1),
        "chunks": sum(int(r["chunk_count"]) for r in done),
        "wall_s": round(wall_s, 1),
        "x_real_time": round(audio_s / wall_s, 1),
        "worker_cpu_s_per_audio_min": round(cpu_s / (audio_s / 60), 3),
        "worker_peak_rss_mb": round(watch.peak_worker_rss_mb, 1),
        "worker_with_cpu_children_peak_pss_mb": round(watch.peak_family_pss_mb, 1),
        "cpu_processes": cpus,
    }
