"""The Recordings pages over recordings a real worker processed: the list with its chunk counts,
a recording's page with the waveform, one band and one player per chunk, the chunk audio route
(FLAC, Range), owners only (404 for anyone else), a failure's reason, a recording processed
before waveforms were kept, and a 60-minute recording of 400 chunks in well under 200 KB."""

from __future__ import annotations

import io
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import voicepipe.tasks.audio  # noqa: F401  (registers the recording tasks)
from tests.support.engine import RunningWorker
from tests.support.pages import (  # noqa: F401  (the fixtures)
    MAX_HTML_BYTES,
    Outline,
    PagesSite,
    Signed,
    admin_fixture,
    site_fixture,
)
from tests.support.speech import SpeechFixture, build_recording
from tests.support.waiting import eventually
from voicepipe.audio.storage import Storage
from voicepipe.audio.waveform import peaks
from voicepipe.db import processing as processing_db
from voicepipe.db import recordings as recordings_db
from voicepipe.domain.quality import AudioQuality
from voicepipe.domain.recordings import Recording
from voicepipe.resources import Resources
from voicepipe.services import uploads
from voicepipe.services.accounts import create_user

QUALITY = AudioQuality(
    rms_dbfs=-24.0, speech_dbfs=-21.0, peak_dbfs=-3.0, clipping_ratio=0.0, snr_db=30.0,
    speech_ratio=0.7, spectral_flatness=0.05,
)  # fmt: skip


@pytest.fixture(name="owner")
async def owner_fixture(site: PagesSite) -> Signed:
    return await site.sign_in("talker@example.org")


@pytest.fixture(name="other")
async def other_fixture(site: PagesSite) -> Signed:
    return await site.sign_in("other@example.org")


@pytest.fixture(scope="module")
def speech(espeak_cache: Path) -> SpeechFixture:
    return build_recording("pages", espeak_cache, seed=11, n_sentences=4, pause_range_s=(0.6, 1.0))


def wav_of(speech: SpeechFixture) -> bytes:
    out = io.BytesIO()
    sf.write(out, speech.samples, speech.sample_rate_hz, format="WAV", subtype="PCM_16")
    return out.getvalue()


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def processed(resources: Resources, owner_id: int, data: bytes, name: str) -> Recording:
    """Upload `data` as `owner_id` and let a real worker process it to its end."""
    stored = await uploads.store_upload(resources, owner_id, _stream(data), name, None, None)
    worker = RunningWorker(resources, ["audio_processing"])
    try:

        async def ended() -> Recording | None:
            r = await recordings_db.get(resources.db, stored.recording.id)
            return r if r is not None and r.status in ("processed", "failed") else None

        return await eventually(ended, timeout_s=60, what="the recording processed")
    finally:
        await worker.close()


class Page(Outline):
    """What the tests read from a recording's pages: its SVG paths, bands, players and words."""

    def __init__(self) -> None:
        super().__init__()
        self.wave_paths: list[str] = []
        self.bands: list[str] = []  # their links
        self.audio: list[str] = []
        self.chunk_entries = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "path" and "wave" in classes:
            self.wave_paths.append(a["d"])
        if tag == "a" and "band" in classes:
            self.bands.append(a["href"])
        if tag == "audio":
            assert a.get("preload") == "none" and "controls" in a
            self.audio.append(a["src"])
        self.chunk_entries += tag == "li" and "chunk" in classes

    def handle_data(self, data: str) -> None:
        super().handle_data(data)
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())

    @property
    def recordings(self) -> list[str]:
        """The data-recording of the list's rows."""
        return self.ids("data-recording")


async def page_of(signed: Signed, path: str) -> tuple[Page, bytes]:
    response = await signed.get_response(path)
    assert response.status == 200, (path, response.status, await response.text())
    body = await response.read()
    page = Page.of(body.decode())
    assert page.inline == 0
    return page, body


async def test_a_processed_recording_is_listed_and_drawn_with_its_chunks(
    owner: Signed, resources: Resources, speech: SpeechFixture
) -> None:
    recording = await processed(resources, owner.user_id, wav_of(speech), "speech.wav")
    assert recording.status == "processed" and recording.chunk_count >= 2

    listing, listing_html = await page_of(owner, "/recordings")
    assert listing.recordings == [str(recording.id)]
    row = re.search(rf'<tr data-recording="{recording.id}">(.*?)</tr>', listing_html.decode(), re.S)
    assert row is not None and "speech.wav" in row.group(1) and "status-processed" in row.group(1)
    assert re.search(rf'chunk-count">{recording.chunk_count}<', row.group(1))
    assert ">Owner</th>" not in listing_html.decode()  # no owner column for a user

    detail, body = await page_of(owner, f"/recordings/{recording.id}")
    assert len(body) <= MAX_HTML_BYTES
    assert len(detail.wave_paths) == 1 and detail.wave_paths[0].startswith("M")
    assert "." not in detail.wave_paths[0]  # rounded to whole units
    chunks = await recordings_db.chunks_of(resources.db, recording.id, 100, -1)
    assert detail.bands == [f"#chunk-{c.position}" for c in chunks]
    assert detail.audio == [f"/recordings/{recording.id}/chunks/{c.id}/audio" for c in chunks]
    assert detail.chunk_entries == len(chunks)
    assert "waveform not available" not in detail.words
    assert recording.job_id is not None and f'href="/jobs/{recording.job_id}"' in body.decode()

    audio = await owner.get_response(detail.audio[0])
    assert audio.status == 200 and audio.headers["Content-Type"] == "audio/flac"
    flac = await audio.read()
    assert flac[:4] == b"fLaC"
    ranged = await owner.get_response(detail.audio[0], headers={"Range": "bytes=4-103"})
    assert ranged.status == 206 and await ranged.read() == flac[4:104]
    assert ranged.headers["Content-Range"] == f"bytes 4-103/{len(flac)}"


async def test_only_the_owner_and_admins_see_a_recording(
    site: PagesSite,
    owner: Signed,
    other: Signed,
    admin: Signed,
    resources: Resources,
    speech: SpeechFixture,
) -> None:
    recording = await processed(resources, owner.user_id, wav_of(speech), "mine.wav")
    chunk = (await recordings_db.chunks_of(resources.db, recording.id, 1, -1))[0]
    detail = f"/recordings/{recording.id}"
    audio = f"{detail}/chunks/{chunk.id}/audio"

    assert (await other.get_response(detail)).status == 404
    refused = await other.get_response(audio)
    assert refused.status == 404 and "text/html" in refused.headers["Content-Type"]
    listing, _ = await page_of(other, "/recordings")
    assert listing.recordings == []
    assert "No recordings yet" in listing.words

    admin_list, admin_html = await page_of(admin, "/recordings")
    assert admin_list.recordings == [str(recording.id)]
    assert '<td data-label="Owner" class="owner">talker@example.org</td>' in admin_html.decode()
    await page_of(admin, detail)
    assert (await admin.get_response(audio)).status == 200
    # a chunk of this recording asked for under another recording's address
    other_recording = await processed(resources, other.user_id, wav_of(speech), "theirs.wav")
    assert (
        await admin.get_response(f"/recordings/{other_recording.id}/chunks/{chunk.id}/audio")
    ).status == 404
    signed_out = await site.anonymous.get(detail, allow_redirects=False)
    assert signed_out.status == 303 and signed_out.headers["Location"].startswith("/login")


async def test_filters_find_recordings_by_status_and_name(
    owner: Signed, resources: Resources, speech: SpeechFixture
) -> None:
    good = await processed(resources, owner.user_id, wav_of(speech), "interview.wav")
    blip = io.BytesIO()  # a WAV, so the upload takes it; too short to cut, so processing fails
    sf.write(blip, np.zeros(8000, dtype=np.float32), 16_000, format="WAV", subtype="PCM_16")
    bad = await processed(resources, owner.user_id, blip.getvalue(), "blip.wav")
    assert (good.status, bad.status) == ("processed", "failed")

    failed, _body = await page_of(owner, "/recordings?status=failed")
    assert failed.recordings == [str(bad.id)]
    assert (
        "blip.wav: 0.5 s long; the shortest chunk is 1.0 s" in failed.words
    )  # the reason, in the list
    named, _ = await page_of(owner, "/recordings?q=INTERV")
    assert named.recordings == [str(good.id)]
    both, _ = await page_of(owner, "/recordings")
    assert both.recordings == [str(bad.id), str(good.id)]  # newest first

    detail, _ = await page_of(owner, f"/recordings/{bad.id}")
    assert "Processing failed (permanent):" in detail.words
    assert "blip.wav: 0.5 s long; the shortest chunk is 1.0 s" in detail.words
    assert detail.bands == [] and detail.audio == []


async def test_a_recording_processed_before_waveforms_shows_its_chunks_alone(
    owner: Signed, resources: Resources, speech: SpeechFixture
) -> None:
    recording = await processed(resources, owner.user_id, wav_of(speech), "old.wav")
    assert await recordings_db.waveform_of(resources.db, recording.id) is not None
    await resources.db.execute("UPDATE recordings SET waveform = NULL WHERE id = $1", recording.id)
    detail, _ = await page_of(owner, f"/recordings/{recording.id}")
    assert detail.wave_paths == []
    assert "waveform not available (processed before waveforms were kept)" in detail.words
    assert len(detail.bands) == recording.chunk_count == len(detail.audio)


async def _long_recording(resources: Resources, owner_id: int, contributors: list[int]) -> int:
    """A 60-minute recording's rows: 400 chunks of 9 s, 7 transcriptions each, a waveform."""
    recording = await recordings_db.create(
        resources.db, owner_id=owner_id, title="A long meeting", original_name="meeting.flac",
        storage_name=Storage.new_recording_name("flac"), content_type=None, fmt="flac",
        size_bytes=80 * 2**20, sha256="0" * 64,
    )  # fmt: skip
    assert recording is not None
    noise = np.random.default_rng(3).normal(0, 0.2, 3600 * 1000).astype(np.float32)
    chunks = [
        processing_db.NewChunk(k, (k - 1) * 9.0, (k - 1) * 9.0 + 8.5,
                               Storage.chunk_name(recording.id, "g1", f"{k:04d}.flac"), False, QUALITY)
        for k in range(1, 401)
    ]  # fmt: skip
    audio = processing_db.ProcessedAudio(
        3600.0, 44_100, 2, "energy", QUALITY, ["speech is quiet: -41.0 dBFS, below -40 dBFS"],
        waveform=peaks(noise).encoded(),
    )  # fmt: skip
    async with resources.db.acquire() as conn:
        assert await processing_db.save_chunks(conn, recording.id, chunks, audio) is not None
    ids = [c.id for c in await recordings_db.chunks_of(resources.db, recording.id, 400, -1)]
    sentence = (
        "the birch canoe slid on the smooth planks and glued the sheet to the dark blue background"
    )
    await resources.db.executemany(
        "INSERT INTO transcriptions (chunk_id, contributor_id, text) VALUES ($1, $2, $3)",
        [(chunk_id, who, sentence) for chunk_id in ids for who in contributors],
    )
    await resources.db.execute(
        """UPDATE chunks SET transcription_count = 7, status = 'consensus', consensus_text = $2,
               confidence = 0.97 WHERE recording_id = $1""",
        recording.id, sentence,
    )  # fmt: skip
    return recording.id


async def test_a_60_minute_recording_of_400_chunks_makes_small_pages(
    owner: Signed, admin: Signed, resources: Resources
) -> None:
    contributors = [(await create_user(resources.db, f"crowd{k}@example.org")).id for k in range(7)]
    recording_id = await _long_recording(resources, owner.user_id, contributors)
    path = f"/recordings/{recording_id}"
    await page_of(admin, path)  # warm: templates compiled
    started = time.perf_counter()
    response = await admin.get_response(path)
    body = await response.read()
    took_ms = (time.perf_counter() - started) * 1000  # a figure to read, not a timed test
    print(f"detail page of 400 chunks: {len(body) / 1024:.0f} KB in {took_ms:.0f} ms")
    detail, body = await page_of(admin, path)
    assert len(body) <= MAX_HTML_BYTES
    assert len(detail.bands) == 400 and len(detail.wave_paths) == 1
    assert detail.chunk_entries == len(detail.audio) == 25
    assert detail.bands[:25] == [f"#chunk-{k}" for k in range(1, 26)]
    assert detail.bands[399] == "?after=375#chunk-400"
    assert detail.words.count("crowd3@example.org") == 25  # every transcription of the page
    assert "Chunks 1–25 of 400" in detail.words and "confidence 97.0 %" in detail.words

    last, last_body = await page_of(admin, f"{path}?after=375")
    assert last.chunk_entries == 25 and 'id="chunk-400"' in last_body.decode()
    assert last.bands[0] == f"{path}#chunk-1" and last.bands[399] == "#chunk-400"
    assert len(last_body) <= MAX_HTML_BYTES
    bad_cursor = await admin.get_response(f"{path}?after=x")
    assert bad_cursor.status == 400
