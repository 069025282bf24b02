"""The voice workload end to end through the API, with a real worker: uploads to chunks to a
crowd's transcriptions to consensus; and bad uploads that must fail clearly and leave nothing."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from aiohttp import ClientSession, FormData
from aiohttp.test_utils import TestServer

import voicepipe.tasks  # noqa: F401  (registers the tasks the worker runs)
from tests.support.engine import RunningWorker
from tests.support.platform_eval import Client, EvalSize, evaluate, wait_processed
from tests.support.speech import standard_fixtures
from voicepipe.resources import Resources, open_resources
from voicepipe.services.accounts import create_user
from voicepipe.settings import Settings
from voicepipe.web.app import init_app

QUEUES = ["default", "audio_processing", "consensus", "maintenance"]


@pytest.fixture
def e2e_settings(settings: Settings) -> Settings:
    # a crowd of contributors posts faster than the per-token write limit meant for scripts
    return settings.model_copy(
        update={"rate_limit_read": 0, "rate_limit_write": 0, "max_upload_mb": 2}
    )


@pytest.fixture
async def platform(e2e_settings: Settings) -> AsyncIterator[tuple[Client, Resources]]:
    async with open_resources(e2e_settings) as resources:
        server = TestServer(init_app(e2e_settings))
        await server.start_server()
        worker = RunningWorker(resources, QUEUES, concurrency=4)
        try:
            async with ClientSession() as http:
                yield Client(http, str(server.make_url("")).rstrip("/")), resources
        finally:
            await worker.close()
            await server.close()


async def test_upload_to_consensus(
    platform: tuple[Client, Resources], tmp_path: Path, espeak_cache: Path
) -> None:
    client, resources = platform
    fixtures = standard_fixtures(espeak_cache, n_sentences=6, seed=3)
    size = EvalSize(crowd_size=12, per_chunk=4, spammers_per_chunk=1, mean_error=0.3, seed=5)
    figures = await evaluate(client, resources, fixtures, tmp_path, size, lambda _: None)
    assert figures["chunks"] >= 2 * len(fixtures)
    assert figures["boundaries_in_speech"] == 0
    assert figures["chunks_out_of_bounds"] == 0
    assert figures["transcriptions_submitted"] >= figures["chunks"] * size.per_chunk
    platform_wer = figures["platform"]["wer"]
    assert platform_wer <= figures["voicepipe_consensus_cli"]["wer"]
    assert figures["same_text_as_cli"] == figures["chunks"]  # the same algorithm on the same data
    assert platform_wer < size.mean_error  # better than one honest transcriber
    assert figures["platform"]["auroc"] >= 0.8


def _wav(seconds: float) -> bytes:
    t = np.arange(int(16_000 * seconds)) / 16_000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    out = io.BytesIO()
    sf.write(out, tone.astype(np.float32), 16_000, format="WAV", subtype="PCM_16")
    return out.getvalue()


def _flac(seconds: float) -> bytes:
    out = io.BytesIO()
    samples = (0.2 * np.sin(np.arange(int(16_000 * seconds)) * 0.05)).astype(np.float32)
    sf.write(out, samples, 16_000, format="FLAC")
    return out.getvalue()


async def _post(client: Client, token: str, name: str, content: bytes) -> tuple[int, dict]:
    form = FormData()
    form.add_field("file", content, filename=name, content_type="application/octet-stream")
    status, body = await client.call("POST", "/api/recordings", token, data=form)
    return status, body


async def test_bad_uploads_fail_clearly_and_leave_nothing(
    platform: tuple[Client, Resources], e2e_settings: Settings, tmp_path: Path, espeak_cache: Path
) -> None:
    client, resources = platform
    user = await create_user(resources.db, "uploader@example.org")
    rejected = {
        "text.wav": (b"this is not audio at all, just text\n" * 50, 415),
        "empty.wav": (b"", 400),
        "huge.wav": (b"RIFF" + bytes(3 * 2**20), 413),  # above VOICEPIPE_MAX_UPLOAD_MB=2
    }
    for name, (content, expected) in rejected.items():
        status, body = await _post(client, user.token, name, content)
        assert status == expected, (name, body)
        assert body["error"]["message"]
    failing = {"truncated.flac": _flac(8.0)[:-40_000], "short.wav": _wav(0.5)}
    ids = {}
    for name, content in failing.items():
        status, body = await _post(client, user.token, name, content)
        assert status == 202, (name, body)
        ids[name] = body["recording_id"]
    final = await wait_processed(client, user.token, list(ids.values()), timeout_s=60)
    for name, rid in ids.items():
        recording = final[rid]
        assert recording["status"] == "failed", name
        assert recording["error"], name
        job = await client.ok("GET", f"/api/jobs/info/{recording['job_id']}", user.token)
        assert job["status"] == "failure" and job["retry_count"] == 0, (name, job)
    assert "0.5 s" in final[ids["short.wav"]]["error"]
    storage = e2e_settings.storage_root
    assert not any((storage / "uploads").glob("*")), "a rejected upload was left on disk"
    kept = {p.name for p in (storage / "recordings").glob("*")}
    assert len(kept) == len(failing)  # the failed ones stay for their owner to see; no others
    # and the server and worker keep serving: a good recording goes through
    speech = standard_fixtures(espeak_cache, n_sentences=3)[0]
    content = speech.write(tmp_path / "fine.wav").read_bytes()
    status, body = await _post(client, user.token, "fine.wav", content)
    assert status == 202
    good = await wait_processed(client, user.token, [body["recording_id"]], timeout_s=60)
    assert good[body["recording_id"]]["status"] == "processed"
    assert good[body["recording_id"]]["chunk_count"] >= 1
