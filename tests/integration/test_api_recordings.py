"""The recordings API through a live server: upload, list, read, visibility, delete, chunks, batches."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import soundfile as sf

import voicepipe.tasks.audio  # noqa: F401  (registers the recording jobs)
from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker
from voicepipe.audio.storage import Storage
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.job_state import redis_status
from voicepipe.engine.registry import JobHandle
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.settings import Settings


def tone(freq_hz: float, fmt: str = "WAV", seconds: float = 1.0, rate_hz: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    buffer = io.BytesIO()
    sf.write(
        buffer, (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), rate_hz, format=fmt
    )
    return buffer.getvalue()


async def upload(
    api: Api, token: str, *files: tuple[str, bytes], title: str | None = None,
    path: str = "/api/recordings",
) -> tuple[int, Any]:  # fmt: skip
    form = aiohttp.FormData(default_to_multipart=True)
    if title is not None:
        form.add_field("title", title)
    for name, content in files:
        form.add_field("file", content, filename=name, content_type="application/octet-stream")
    response = await api.client.post(path, data=form, headers=api.auth(token))
    return response.status, await response.json()


def stored_files(settings: Settings) -> list[Path]:
    root = settings.storage_root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_an_upload_is_stored_and_queued(
    api: Api, settings: Settings, resources: Resources
) -> None:
    wav, flac = tone(440), tone(523, "FLAC")
    status, body = await upload(api, api.user, ("talk.wav", wav), title="Morning talk")
    assert status == 202, body
    assert body["status"] == "uploaded" and body["job_id"]
    status, flac_body = await upload(api, api.user, ("talk.flac", flac))
    assert status == 202, flac_body

    status, got = await api.get(f"/api/recordings/{body['recording_id']}", api.user)
    assert status == 200, got
    assert (got["title"], got["original_name"], got["format"]) == (
        "Morning talk",
        "talk.wav",
        "wav",
    )
    assert got["size_bytes"] == len(wav) and got["job_id"] == body["job_id"]
    assert "storage_name" not in got
    status, got_flac = await api.get(f"/api/recordings/{flac_body['recording_id']}", api.user)
    assert got_flac["format"] == "flac"
    kept = Storage(settings.storage_root).recordings_dir
    assert sorted(p.read_bytes() for p in kept.iterdir()) == sorted([wav, flac])
    assert list(Storage(settings.storage_root).uploads_dir.iterdir()) == []
    assert (
        await redis_status(resources.redis, body["job_id"], "audio_processing") is JobStatus.PENDING
    )


async def test_the_same_file_twice_is_409_for_its_owner_only(api: Api) -> None:
    wav = tone(300)
    status, first = await upload(api, api.user, ("a.wav", wav))
    assert status == 202
    status, again = await upload(api, api.user, ("renamed.wav", wav))
    assert status == 409, again
    assert again["error"]["recording_id"] == first["recording_id"]
    status, theirs = await upload(api, api.other, ("a.wav", wav))
    assert status == 202 and theirs["recording_id"] != first["recording_id"]


async def test_refused_uploads_leave_nothing_on_disk(api: Api, settings: Settings) -> None:
    status, body = await upload(
        api, api.user, ("notes.wav", b"Dear diary,\nToday I recorded nothing.\n" * 20)
    )
    assert status == 415 and "looks like text" in body["error"]["message"], body
    status, body = await upload(api, api.user, ("empty.wav", b""))
    assert status == 400 and "empty" in body["error"]["message"], body
    response = await api.client.post(
        "/api/recordings", json={"file": "x"}, headers=api.auth(api.user)
    )
    assert response.status == 415  # not a form
    status, body = await upload(api, api.user)
    assert status == 400 and "no `file`" in body["error"]["message"]
    assert stored_files(settings) == []
    status, page = await api.get("/api/recordings", api.user)
    assert page["items"] == []


async def test_lists_and_reads_show_own_recordings_and_admins_all(api: Api) -> None:
    ids = []
    for k, name in enumerate(("alpha.wav", "beta.wav", "gamma.wav")):
        status, body = await upload(api, api.user, (name, tone(200 + 10 * k)))
        ids.append(body["recording_id"])
    status, theirs = await upload(api, api.other, ("delta.wav", tone(900)))
    assert status == 202

    status, page = await api.get("/api/recordings", api.user, params={"limit": "2"})
    assert [r["id"] for r in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    status, rest = await api.get(
        "/api/recordings", api.user, params={"limit": "2", "cursor": page["next_cursor"]}
    )
    assert [r["id"] for r in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    status, found = await api.get("/api/recordings", api.user, params={"q": "BET"})
    assert [r["id"] for r in found["items"]] == [ids[1]]
    status, found = await api.get("/api/recordings", api.user, params={"status": "processed"})
    assert status == 200 and found["items"] == []
    status, found = await api.get(
        "/api/recordings", api.user, params={"created_after": "2999-01-01T00:00:00Z"}
    )
    assert found["items"] == []
    status, everyone = await api.get("/api/recordings", api.admin)
    assert {r["id"] for r in everyone["items"]} == {*ids, theirs["recording_id"]}

    other_id = theirs["recording_id"]
    for path in (f"/api/recordings/{other_id}", f"/api/recordings/{other_id}/chunks"):
        assert (await api.get(path, api.user))[0] == 404
        assert (await api.get(path, api.admin))[0] == 200
    response = await api.client.delete(f"/api/recordings/{other_id}", headers=api.auth(api.user))
    assert response.status == 404
    status, _ = await api.get("/api/recordings", api.user, params={"cursor": "nonsense"})
    assert status == 400


async def _add_chunks(
    resources: Resources, settings: Settings, recording_id: int, contributor: int
) -> list[int]:
    """Two chunk rows with files, as processing would leave them, and one transcription."""
    storage = Storage(settings.storage_root)
    ids = []
    for position in range(2):
        name = storage.chunk_name(recording_id, "gen-1", f"{position + 1:04d}.flac")
        path = storage.chunk_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tone(300 + position, "FLAC", seconds=0.2))
        ids.append(await resources.db.fetchval(
            """INSERT INTO chunks (recording_id, position, start_s, end_s, storage_name)
               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
            recording_id, position, position * 5.0, position * 5.0 + 4.5, name,
        ))  # fmt: skip
    await resources.db.execute(
        "INSERT INTO transcriptions (chunk_id, contributor_id, text) VALUES ($1, $2, 'hello')",
        ids[0], contributor,
    )  # fmt: skip
    await resources.db.execute("UPDATE chunks SET transcription_count = 1 WHERE id = $1", ids[0])
    return ids


async def test_chunks_are_listed_in_order_and_paged(
    api: Api, settings: Settings, resources: Resources
) -> None:
    status, body = await upload(api, api.user, ("c.wav", tone(610)))
    chunk_ids = await _add_chunks(resources, settings, body["recording_id"], api.other_id)
    path = f"/api/recordings/{body['recording_id']}/chunks"
    status, page = await api.get(path, api.user, params={"limit": "1"})
    assert status == 200, page
    (first,) = page["items"]
    assert (first["chunk_id"], first["position"], first["start_s"], first["end_s"]) == (
        chunk_ids[0],
        0,
        0.0,
        4.5,
    )
    assert (first["status"], first["transcription_count"], first["consensus_text"]) == (
        "awaiting_transcriptions",
        1,
        None,
    )
    status, rest = await api.get(
        path, api.user, params={"limit": "1", "cursor": page["next_cursor"]}
    )
    assert [c["chunk_id"] for c in rest["items"]] == [chunk_ids[1]] and rest["next_cursor"] is None


async def test_delete_cancels_the_job_and_removes_files_and_rows(
    api: Api, settings: Settings, resources: Resources
) -> None:
    status, body = await upload(api, api.user, ("d.wav", tone(700)))
    assert status == 202
    _, kept = await upload(api, api.user, ("keep.wav", tone(710)))
    rid = body["recording_id"]
    await _add_chunks(resources, settings, rid, api.other_id)
    assert len(stored_files(settings)) == 4  # two recordings, two chunk files
    assert (
        await redis_status(resources.redis, body["job_id"], "audio_processing") is JobStatus.PENDING
    )

    response = await api.client.delete(f"/api/recordings/{rid}", headers=api.auth(api.user))
    deleted = await response.json()
    assert response.status == 200, deleted
    assert (deleted["chunks"], deleted["transcriptions"], deleted["job_outcome"]) == (
        2,
        1,
        "cancelled",
    )
    assert (
        await redis_status(resources.redis, body["job_id"], "audio_processing")
        is JobStatus.CANCELLED
    )
    assert [p.read_bytes() for p in stored_files(settings)] == [tone(710)]
    assert await resources.db.fetchval("SELECT count(*) FROM chunks") == 0
    assert await resources.db.fetchval("SELECT count(*) FROM transcriptions") == 0
    assert (await api.get(f"/api/recordings/{rid}", api.user))[0] == 404
    response = await api.client.delete(
        f"/api/recordings/{kept['recording_id']}", headers=api.auth(api.admin)
    )
    assert response.status == 200 and stored_files(settings) == []


async def test_a_batch_stores_good_files_reports_bad_ones_and_runs(
    api: Api, resources: Resources
) -> None:
    files = [
        ("one.wav", tone(250)),
        ("two.flac", tone(260, "FLAC")),
        ("readme.wav", b"just some text here"),
    ]
    status, body = await upload(api, api.user, *files, path="/api/recordings/batch")
    assert status == 202, body
    assert [r["status"] for r in body["recordings"]] == ["uploaded", "uploaded"]
    assert all(r["job_id"] is None for r in body["recordings"])
    (rejected,) = body["rejected"]
    assert (rejected["file"], rejected["status"]) == ("readme.wav", 415)
    status, batch = await api.get(f"/api/batches/{body['batch_id']}", api.user)
    assert status == 200, batch
    assert (batch["total"], batch["done"], batch["jobs"]) == (2, 0, [])
    assert (await api.get(f"/api/batches/{body['batch_id']}", api.other))[0] == 404
    assert (await api.get(f"/api/batches/{body['batch_id']}", api.admin))[0] == 200

    worker = RunningWorker(resources, ["batch_processing"])
    try:
        await JobHandle(
            body["job_id"], "batch_process_recordings", "batch_processing", resources
        ).result(timeout_s=20)
    finally:
        await worker.close()
    await record_pending(resources)
    status, batch = await api.get(f"/api/batches/{body['batch_id']}", api.user)
    ids = [r["recording_id"] for r in body["recordings"]]
    assert sorted(j["recording_id"] for j in batch["jobs"]) == sorted(ids)
    assert all(j["status"] == "pending" for j in batch["jobs"])
    for job in batch["jobs"]:
        status, got = await api.get(f"/api/recordings/{job['recording_id']}", api.user)
        assert got["job_id"] == job["job_id"]


async def test_a_batch_of_only_bad_files_is_refused(api: Api, settings: Settings) -> None:
    status, body = await upload(
        api, api.user, ("a.wav", b""), ("b.wav", b"%PDF-1.4 nope"), path="/api/recordings/batch"
    )
    assert status == 400, body
    assert "a.wav: the file is empty" in body["error"]["message"]
    assert "PDF" in body["error"]["message"]
    assert stored_files(settings) == []


async def test_a_title_after_the_file_counts_and_unknown_fields_are_refused(
    api: Api, settings: Settings
) -> None:
    form = aiohttp.FormData()
    form.add_field("file", tone(820), filename="late.wav")
    form.add_field("title", "Named late")
    response = await api.client.post("/api/recordings", data=form, headers=api.auth(api.user))
    body = await response.json()
    assert response.status == 202, body
    _, got = await api.get(f"/api/recordings/{body['recording_id']}", api.user)
    assert got["title"] == "Named late"

    form = aiohttp.FormData()
    form.add_field("colour", "blue")
    form.add_field("file", tone(830), filename="x.wav")
    response = await api.client.post("/api/recordings", data=form, headers=api.auth(api.user))
    assert response.status == 400 and "colour" in (await response.json())["error"]["message"]
    assert len(stored_files(settings)) == 1  # only the first recording


async def test_a_batch_that_breaks_off_keeps_none_of_its_files(
    api: Api, settings: Settings, resources: Resources
) -> None:
    form = aiohttp.FormData()
    form.add_field("file", tone(840), filename="good.wav")
    form.add_field("colour", "blue")
    response = await api.client.post("/api/recordings/batch", data=form, headers=api.auth(api.user))
    assert response.status == 400 and "colour" in (await response.json())["error"]["message"]
    assert await resources.db.fetchval("SELECT count(*) FROM recordings") == 0
    assert stored_files(settings) == []
    status, body = await upload(
        api, api.user, ("good.wav", tone(840)), path="/api/recordings/batch"
    )
    assert status == 202 and body["rejected"] == []  # sent again: no duplicate in its way
