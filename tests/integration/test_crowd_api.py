"""The crowd's endpoints: the work queue with claims, chunk access and audio, transcriptions."""

from __future__ import annotations

import asyncio
import io
import uuid

import numpy as np
import soundfile

from tests.support.api import Api, api_fixture  # noqa: F401
from voicepipe import keys
from voicepipe.audio.storage import Storage
from voicepipe.db import recordings as recordings_db
from voicepipe.resources import Resources
from voicepipe.services.accounts import NewUser, create_user


async def make_recording(
    resources: Resources, owner_id: int, chunks: int, processed: bool = True
) -> list[int]:
    """A recording row (processed, no audio processing) with `chunks` chunk rows, each with a
    short FLAC file where Storage expects it; returns the chunk ids in position order."""
    storage = Storage(resources.settings.storage_root)
    recording = await recordings_db.create(
        resources.db, owner_id=owner_id, title="t", original_name="a.wav",
        storage_name=Storage.new_recording_name("wav"), content_type="audio/wav", fmt="wav",
        size_bytes=1, sha256=uuid.uuid4().hex,
    )  # fmt: skip
    assert recording is not None
    status = "processed" if processed else "processing"
    await resources.db.execute(
        "UPDATE recordings SET status = $2, chunk_count = $3 WHERE id = $1",
        recording.id, status, chunks,
    )  # fmt: skip
    ids = []
    rng = np.random.default_rng(recording.id)
    for position in range(chunks):
        name = Storage.chunk_name(recording.id, "g1", f"{position + 1:04d}.flac")
        path = storage.chunk_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, rng.uniform(-0.3, 0.3, 8000).astype("float32"), 16000, format="FLAC")
        chunk_id = await resources.db.fetchval(
            """INSERT INTO chunks (recording_id, position, start_s, end_s, storage_name)
               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
            recording.id, position, position * 0.5, position * 0.5 + 0.5, name,
        )  # fmt: skip
        ids.append(chunk_id)
    return ids


async def contributors(resources: Resources, n: int, prefix: str = "c") -> list[NewUser]:
    return [await create_user(resources.db, f"{prefix}{k}@example.org") for k in range(n)]


async def next_id(api: Api, token: str) -> int | None:
    status, body = await api.get("/api/chunks/next", token)
    if status == 404:
        assert body["error"]["message"] == "no chunk needs transcribing right now"
        return None
    assert status == 200, body
    return int(body["chunk_id"])


async def transcribe(api: Api, token: str, chunk_id: int, text: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    status, body = await api.post(f"/api/chunks/{chunk_id}/transcriptions", token, {"text": text})
    return status, body


async def test_next_is_fair_never_own_transcribed_or_finished_and_needs_more_first(
    api: Api, resources: Resources
) -> None:
    big = await make_recording(resources, api.other_id, 6)
    small = await make_recording(resources, api.other_id, 2)
    own = await make_recording(resources, api.user_id, 3)
    await make_recording(resources, api.other_id, 2, processed=False)
    await resources.db.execute(
        "UPDATE chunks SET status = 'consensus' WHERE id = $1", big[0]
    )  # finished: never served
    served = []
    for _ in range(len(big) - 1 + len(small)):
        chunk_id = await next_id(api, api.user)
        assert chunk_id is not None
        served.append(chunk_id)
        assert (await transcribe(api, api.user, chunk_id, "hello there"))[0] == 201
    # position order across recordings: both recordings' early chunks before the big one's later
    assert served[:3] == [small[0], big[1], small[1]]
    assert set(served) == set(big[1:] + small)  # nothing own, unprocessed, finished or repeated
    assert not set(served) & set(own)
    assert await next_id(api, api.user) is None  # the precondition above: it did serve 7
    # the owner's contributor sees own chunks in the queue of someone else
    assert await next_id(api, api.other) == own[0]
    await resources.db.execute("UPDATE chunks SET status = 'needs_more' WHERE id = $1", own[2])
    assert await next_id(api, api.other) == own[2]  # needs_more first, whatever its position


async def test_claims_spread_callers_asking_at_once(api: Api, resources: Resources) -> None:
    (lone,) = await make_recording(resources, api.user_id, 1)
    people = await contributors(resources, 4)
    served = await asyncio.gather(*(next_id(api, p.token) for p in people))
    # the chunk needs 3 transcriptions: 3 claims are enough, the fourth caller gets nothing
    assert sorted(served, key=str) == sorted([lone, lone, lone, None], key=str)
    two = await make_recording(resources, api.user_id, 2)
    await resources.db.execute(
        "UPDATE chunks SET status = 'needs_more', transcription_count = 3 WHERE id = ANY($1)", two
    )
    served = await asyncio.gather(*(next_id(api, p.token) for p in people[:2]))
    assert sorted(served, key=str) == sorted(two)  # one more each: two callers, two chunks
    # a claim is given up by submitting: the chunk is open to another caller again
    holder = people[served.index(two[0])]
    assert (await transcribe(api, holder.token, two[0], "some words"))[0] == 201
    assert await resources.db.fetchval("SELECT count(*) FROM chunk_claims WHERE chunk_id = $1 "
                                       "AND contributor_id = $2", two[0], holder.id) == 0  # fmt: skip


async def test_asking_again_skips_to_another_chunk(api: Api, resources: Resources) -> None:
    first, second = await make_recording(resources, api.other_id, 2)
    assert await next_id(api, api.user) == first
    assert await next_id(api, api.user) == second  # the chunk served before is released
    claims = await resources.db.fetch(
        "SELECT chunk_id FROM chunk_claims WHERE contributor_id = $1", api.user_id
    )
    assert [row["chunk_id"] for row in claims] == [second]


async def test_transcription_rules(api: Api, resources: Resources) -> None:
    (chunk_id,) = await make_recording(resources, api.other_id, 1)
    (hidden,) = await make_recording(resources, api.other_id, 1, processed=False)
    status, body = await transcribe(api, api.other, chunk_id, "my own")
    assert status == 403 and "own recording" in body["error"]["message"]
    for text in ("", "   \n ", "x" * (resources.settings.transcription_max_chars + 1),
                 "bad\x00nul", "bell\x07", "esc\x1b[2J"):  # fmt: skip
        status, body = await transcribe(api, api.user, chunk_id, text)
        assert status == 422, (text, status, body)
        assert body["error"]["message"].startswith("body.text")
    status, body = await transcribe(api, api.user, chunk_id, "  the words\tI heard  ")
    assert status == 201 and body["transcription_count"] == 1
    first = body["transcription_id"]
    assert await resources.db.fetchval("SELECT text FROM transcriptions WHERE id = $1", first) == (
        "the words\tI heard"
    )
    status, body = await transcribe(api, api.user, chunk_id, "again")
    assert status == 409 and body["error"]["transcription_id"] == first
    assert (
        await resources.db.fetchval(
            "SELECT transcription_count FROM chunks WHERE id = $1", chunk_id
        )
        == 1
    )
    assert (await transcribe(api, api.user, hidden, "not yet"))[0] == 404
    assert (await transcribe(api, api.user, 10**12, "nothing"))[0] == 404


async def test_chunk_and_audio_access_and_range(api: Api, resources: Resources) -> None:
    (chunk_id,) = await make_recording(resources, api.other_id, 1)
    (hidden,) = await make_recording(resources, api.other_id, 1, processed=False)
    await resources.db.execute(
        "UPDATE chunks SET consensus_text = 'secret', confidence = 0.5 WHERE id = $1", chunk_id
    )
    status, body = await api.get(f"/api/chunks/{chunk_id}", api.user)
    assert status == 200 and body["consensus_text"] is None  # contributors hear, not copy
    assert body["audio_url"] == f"/api/chunks/{chunk_id}/audio" and body["duration_s"] == 0.5
    for token in (api.other, api.admin):
        status, body = await api.get(f"/api/chunks/{chunk_id}", token)
        assert status == 200 and body["consensus_text"] == "secret"
    assert (await api.get(f"/api/chunks/{hidden}", api.user))[0] == 404
    assert (await api.get(f"/api/chunks/{hidden}", api.other))[0] == 200
    assert (
        await api.client.get(f"/api/chunks/{hidden}/audio", headers=api.auth(api.user))
    ).status == 404

    name = await resources.db.fetchval("SELECT storage_name FROM chunks WHERE id = $1", chunk_id)
    whole = Storage(resources.settings.storage_root).chunk_path(name).read_bytes()
    response = await api.client.get(f"/api/chunks/{chunk_id}/audio", headers=api.auth(api.user))
    assert response.status == 200 and response.content_type == "audio/flac"
    body_bytes = await response.read()
    assert body_bytes == whole
    assert soundfile.info(io.BytesIO(body_bytes)).frames == 8000
    headers = {**api.auth(api.user), "Range": "bytes=10-99"}
    response = await api.client.get(f"/api/chunks/{chunk_id}/audio", headers=headers)
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 10-99/{len(whole)}"
    assert await response.read() == whole[10:100]


async def test_third_transcription_queues_one_consensus_job(api: Api, resources: Resources) -> None:
    import voicepipe.tasks.consensus  # noqa: F401  (registers the task; no worker runs here)

    (chunk_id,) = await make_recording(resources, api.user_id, 1)
    people = await contributors(resources, 4)
    jobs = []
    for k, person in enumerate(people):
        status, body = await transcribe(api, person.token, chunk_id, f"words number {k}")
        assert status == 201 and body["transcription_count"] == k + 1
        jobs.append(body["consensus_job_id"])
    assert jobs[:2] == [None, None] and jobs[2] is not None and jobs[3] is None
    queued = await resources.redis.zrange(keys.queue("consensus"), 0, -1)
    assert [job.decode() for job in queued] == [jobs[2]]
    marker = await resources.db.fetchrow(
        "SELECT consensus_job_id, consensus_queued_at FROM chunks WHERE id = $1", chunk_id
    )
    assert marker["consensus_job_id"] == jobs[2] and marker["consensus_queued_at"] is not None
    # a marker that is old counts as lost: the next transcription queues a replacement
    await resources.db.execute(
        "UPDATE chunks SET consensus_queued_at = now() - interval '1 hour' WHERE id = $1", chunk_id
    )
    late = await create_user(resources.db, "late@example.org")
    status, body = await transcribe(api, late.token, chunk_id, "late words")
    assert status == 201 and body["consensus_job_id"] not in (None, jobs[2])
    assert await resources.redis.zcard(keys.queue("consensus")) == 2
