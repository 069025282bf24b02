"""Uploads at the edges: size limits before and while reading, a client that goes away mid-upload,
and an upload whose job could not be queued (Redis down) recovered by uploading it again."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import redis.exceptions
import soundfile as sf
from aiohttp.test_utils import TestClient, TestServer

import voicepipe.tasks.audio  # noqa: F401  (registers the recording jobs)
from tests.support.api import Api
from tests.support.waiting import eventually
from voicepipe.audio.storage import Storage
from voicepipe.db import recordings as recordings_db
from voicepipe.domain.jobs import JobStatus
from voicepipe.embedded.procs import free_port
from voicepipe.engine.job_state import redis_status
from voicepipe.errors import Conflict
from voicepipe.resources import Resources, open_resources
from voicepipe.services.accounts import create_user
from voicepipe.services.uploads import store_upload, upload_job_id
from voicepipe.settings import Settings
from voicepipe.web.app import init_app

BOUNDARY = "voicepipe-test-boundary"
MIB = 1024 * 1024


def wav_bytes(seconds: float, rate_hz: int = 16_000) -> bytes:
    rng = np.random.default_rng(int(seconds * 1000))
    buffer = io.BytesIO()
    sf.write(
        buffer,
        (0.1 * rng.standard_normal(int(seconds * rate_hz))).astype(np.float32),
        rate_hz,
        format="WAV",
    )
    return buffer.getvalue()


def form_head(name: str = "big.wav") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()


FORM_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def leftovers(settings: Settings) -> list[Path]:
    root = settings.storage_root
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def small(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_mb": 1})


async def _request_head(server: TestServer, token: str, length: int) -> bytes:
    return (
        f"POST /api/recordings HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(
    small: Settings, resources: Resources
) -> None:
    user = await create_user(resources.db, "u@example.org")
    async with TestServer(init_app(small)) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            await _request_head(server, user.token, 3 * MIB) + form_head() + wav_bytes(0.1)
        )
        await writer.drain()  # a few KB of the 3 MiB declared: the answer cannot wait for the rest
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    assert status_line.split()[1] == b"413", status_line
    assert leftovers(small) == []


async def test_a_chunked_body_is_cut_off_at_the_limit(
    small: Settings, resources: Resources
) -> None:
    user = await create_user(resources.db, "u@example.org")
    audio = wav_bytes(40)  # 1.28 MB of valid WAV: refused for its size, not its format
    assert len(audio) > MIB

    async def body() -> AsyncIterator[bytes]:
        yield form_head()
        for start in range(0, len(audio), 64 * 1024):
            yield audio[start : start + 64 * 1024]
        yield FORM_TAIL

    headers = {**Api.auth(user.token), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    async with TestClient(TestServer(init_app(small))) as client:
        response = await client.post("/api/recordings", data=body(), headers=headers)
        assert response.status == 413, await response.text()
        assert "1 MB" in (await response.json())["error"]["message"]
        ok = await client.post(
            "/api/recordings", headers=headers,
            data=form_head("fits.wav") + wav_bytes(20) + FORM_TAIL,
        )  # fmt: skip
        assert ok.status == 202, await ok.text()  # under the limit, same way: taken
    assert [p.parent.name for p in leftovers(small)] == ["recordings"]


async def test_a_client_that_goes_away_mid_upload_leaves_nothing(
    settings: Settings, resources: Resources
) -> None:
    roomy = settings.model_copy(update={"max_upload_mb": 8})
    user = await create_user(resources.db, "u@example.org")
    audio = wav_bytes(100)  # 3.2 MB
    uploads_dir = Storage(roomy.storage_root).uploads_dir
    async with TestServer(init_app(roomy)) as server:
        _, writer = await asyncio.open_connection(server.host, server.port)
        length = len(form_head()) + len(audio) + len(FORM_TAIL)
        writer.write(
            await _request_head(server, user.token, length) + form_head() + audio[: 2 * MIB]
        )
        await writer.drain()
        await eventually(
            lambda: _listing(uploads_dir), timeout_s=10, what="the upload's temporary file"
        )
        writer.close()
        await writer.wait_closed()
        await eventually(
            lambda: _empty(uploads_dir), timeout_s=10, what="the temporary file to be deleted"
        )
    assert leftovers(roomy) == []
    assert await resources.db.fetchval("SELECT count(*) FROM recordings") == 0


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


async def _listing(folder: Path) -> list[Path]:
    return await asyncio.to_thread(_files, folder)


async def _empty(folder: Path) -> bool:
    return not await _listing(folder)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_an_upload_whose_job_was_not_queued_is_queued_when_sent_again(
    settings: Settings, resources: Resources
) -> None:
    user = await create_user(resources.db, "u@example.org")
    audio = wav_bytes(1)
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with open_resources(dead) as no_redis:
        with pytest.raises(redis.exceptions.ConnectionError):
            await store_upload(no_redis, user.id, _chunks(audio), "a.wav", None, "audio/wav")
    (row,) = await resources.db.fetch("SELECT id, status, job_id FROM recordings")
    job_id = upload_job_id(row["id"])
    assert (row["status"], row["job_id"]) == ("uploaded", job_id)
    assert await redis_status(resources.redis, job_id, "audio_processing") is None  # never queued

    again = await store_upload(resources, user.id, _chunks(audio), "a.wav", None, "audio/wav")
    assert (again.recording.id, again.job_id) == (row["id"], job_id)
    assert await redis_status(resources.redis, job_id, "audio_processing") is JobStatus.PENDING
    with pytest.raises(Conflict) as refused:  # queued now: a third time is a plain duplicate
        await store_upload(resources, user.id, _chunks(audio), "a.wav", None, "audio/wav")
    assert refused.value.details == {"recording_id": row["id"]}
    assert len([p for p in leftovers(settings) if p.parent.name == "recordings"]) == 1


async def test_stored_without_enqueue_has_no_job(settings: Settings, resources: Resources) -> None:
    user = await create_user(resources.db, "u@example.org")
    stored = await store_upload(
        resources, user.id, _chunks(wav_bytes(0.5)), "b.wav", "B", None, enqueue=False
    )
    assert stored.job_id is None
    recording = await recordings_db.get(resources.db, stored.recording.id)
    assert recording is not None and recording.job_id is None and recording.title == "B"
    path = Storage(settings.storage_root).recording_path(recording.storage_name)
    assert path.read_bytes() == wav_bytes(0.5)
