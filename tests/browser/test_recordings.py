"""The Recordings pages in a real browser, over an espeak-ng recording a real worker cut into
chunks and three other accounts transcribed: the list, the waveform with a band per chunk, a
chunk's audio loading in its player, transcriptions and consensus, the bands reached by the
keyboard, and a phone's width without sideways scrolling."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf
from playwright.async_api import expect

import voicepipe.tasks.audio  # (registers the recording tasks)
import voicepipe.tasks.consensus  # noqa: F401  (registers the consensus task)
from tests.support.browser import PHONE, Browsing, Login, Site, assert_no_sideways_scroll
from tests.support.engine import RunningWorker
from tests.support.speech import SpeechFixture, build_recording
from tests.support.waiting import eventually
from voicepipe.db import recordings as recordings_db
from voicepipe.db.users import user_by_email
from voicepipe.domain.recordings import Chunk, Recording
from voicepipe.services import crowd, uploads
from voicepipe.services.accounts import create_user

SAID = ("the birch canoe slid on the smooth planks", "the birch canoe slid on the smooth plank")


@dataclass(frozen=True)
class Transcribed:
    recording: Recording
    chunks: list[Chunk]


@pytest.fixture(scope="module")
def speech(espeak_cache: Path) -> SpeechFixture:
    return build_recording("browse", espeak_cache, seed=5, n_sentences=8, pause_range_s=(0.6, 1.0))


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def transcribed(site: Site, speech: SpeechFixture) -> AsyncIterator[Transcribed]:
    """The site user's recording, processed by a real worker; its first chunk transcribed by
    three contributors (one a spammer) through the crowd service, and its consensus computed."""
    resources = site.resources
    wav = io.BytesIO()
    sf.write(wav, speech.samples, speech.sample_rate_hz, format="WAV", subtype="PCM_16")
    worker = RunningWorker(resources, ["audio_processing", "consensus"])
    try:
        stored = await uploads.store_upload(
            resources, site.user.id, _stream(wav.getvalue()), "sentences.wav", "Eight sentences",
            None,
        )  # fmt: skip

        async def processed() -> Recording | None:
            r = await recordings_db.get(resources.db, stored.recording.id)
            return r if r is not None and r.status == "processed" else None

        recording = await eventually(processed, timeout_s=60, what="the recording processed")
        first = (await recordings_db.chunks_of(resources.db, recording.id, 1, -1))[0]
        texts = [SAID[0], SAID[1], SAID[0], "buy cheap watches at example dot com now"]
        for k, text in enumerate(texts):
            created = await create_user(resources.db, f"crowd{k}@example.org")
            contributor = await user_by_email(resources.db, created.email)
            assert contributor is not None
            await crowd.submit_transcription(resources, contributor, first.id, text)

        async def agreed() -> list[Chunk] | None:
            chunks = await recordings_db.chunks_of(resources.db, recording.id, 100, -1)
            return chunks if chunks[0].consensus_text else None

        chunks = await eventually(agreed, timeout_s=30, what="the first chunk's consensus")
        yield Transcribed(recording, chunks)
    finally:
        await worker.close()


async def test_the_list_and_the_recording_page_show_its_chunks_and_play_them(
    browsing: Browsing, site: Site, transcribed: Transcribed
) -> None:
    recording, chunks = transcribed.recording, transcribed.chunks
    await browsing.sign_in_as(site.user)
    page = await browsing.open("/recordings")
    await expect(page.get_by_role("heading", name="Recordings", level=1)).to_be_visible()
    row = page.locator(f'tr[data-recording="{recording.id}"]')
    await expect(row).to_contain_text("Eight sentences")
    await expect(row).to_contain_text("sentences.wav")
    await expect(row.locator(".badge")).to_have_text("processed")
    await expect(row.locator(".chunk-count")).to_have_text(str(len(chunks)))
    await browsing.shot(page, "recordings")

    await row.get_by_role("link", name="Eight sentences").click()
    await expect(page).to_have_url(f"{site.url}/recordings/{recording.id}")
    svg = page.locator("svg.timeline-svg")
    await expect(svg).to_be_visible()
    box = await svg.bounding_box()
    assert box is not None and box["width"] > 1000 and box["height"] > 100
    await expect(svg.locator("path.wave")).to_have_count(1)
    await expect(svg.locator("a.band")).to_have_count(len(chunks))
    await expect(page.locator("li.chunk audio")).to_have_count(len(chunks))

    first = page.locator("#chunk-1")
    await expect(first.locator(".consensus q")).to_have_text(SAID[0])
    await expect(first.locator(".confidence")).to_contain_text("confidence")
    await expect(first.locator(".transcriptions li")).to_have_count(4)
    await expect(first.locator(".transcriptions")).to_contain_text(SAID[1])
    await expect(first.locator(".transcriptions")).not_to_contain_text("@example.org")  # a user
    await browsing.shot(page, "recording")
    await first.scroll_into_view_if_needed()
    await browsing.shot(page, "recording-chunks")

    audio = first.locator("audio")
    src = f"{site.url}/recordings/{recording.id}/chunks/{chunks[0].id}/audio"
    answered: list[int] = []
    page.on("response", lambda r: answered.append(r.status) if r.url == src else None)
    await audio.evaluate("a => a.load()")
    await expect(audio).to_have_js_property("readyState", 4, timeout=10_000)
    duration = await audio.evaluate("a => a.duration")
    expected = chunks[0].end_s - chunks[0].start_s
    assert abs(duration - expected) < 0.1, (duration, expected)
    await audio.evaluate("a => { a.muted = true; return a.play(); }")
    await page.wait_for_function(
        "a => a.currentTime > 0", arg=await audio.element_handle(), timeout=10_000
    )
    await audio.evaluate("a => a.pause()")
    assert answered and set(answered) <= {200, 206}, answered
    # Chromium's media player drops its first request once it has read what it needs (and asks
    # for ranges): an aborted request of this file is the player's doing, not a failure
    aborted = f"request failed: GET {src}: net::ERR_ABORTED"
    problems = browsing.watch.take()
    assert all(p == aborted for p in problems), problems


async def test_the_bands_are_links_the_keyboard_reaches(
    browsing: Browsing, site: Site, transcribed: Transcribed
) -> None:
    recording, chunks = transcribed.recording, transcribed.chunks
    await browsing.sign_in_as(site.user)
    page = await browsing.open(f"/recordings/{recording.id}")
    last = page.locator("a.band").last
    await last.focus()
    await expect(last).to_be_focused()
    title = await last.locator("title").text_content()
    assert title is not None and title.startswith(f"Chunk {chunks[-1].position}: ")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(
        f"{site.url}/recordings/{recording.id}#chunk-{chunks[-1].position}"
    )
    await expect(page.locator(f"#chunk-{chunks[-1].position}")).to_be_in_viewport()


async def test_someone_elses_recording_is_not_found(
    browsing: Browsing, site: Site, transcribed: Transcribed
) -> None:
    other = await create_user(site.resources.db, "nosy@example.org", with_password=True)
    assert other.password
    await browsing.sign_in_as(Login(other.id, other.email, other.password))
    path = f"/recordings/{transcribed.recording.id}"
    browsing.watch.expect(404, path)
    page = await browsing.new_page()
    response = await page.goto(path)
    assert response is not None and response.status == 404
    await expect(page.get_by_role("alert")).to_have_text(
        f"no recording with id {transcribed.recording.id}"
    )
    listing = await browsing.open("/recordings")
    await expect(listing.locator("tbody tr")).to_have_count(1)
    await expect(listing.locator("td.empty")).to_contain_text("No recordings yet")


async def test_on_a_phone_the_recording_pages_do_not_scroll_sideways(
    browsing: Browsing, site: Site, transcribed: Transcribed
) -> None:
    await browsing.sign_in_as(site.user)
    page = await browsing.new_page()
    await page.set_viewport_size(PHONE)
    for path, name in (("/recordings", "recordings-phone"),
                       (f"/recordings/{transcribed.recording.id}", "recording-phone")):  # fmt: skip
        response = await page.goto(path)
        assert response is not None and response.status == 200
        await browsing.shot(page, name)
        await assert_no_sideways_scroll(page)
    svg = page.locator("svg.timeline-svg")
    await svg.scroll_into_view_if_needed()
    await browsing.shot(page, "recording-phone-timeline")
    box = await svg.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"] and box["height"] > 30
