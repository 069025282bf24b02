"""`voicepipe process FILE… --wait` as a user runs it, against a running worker."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import voicepipe.tasks  # noqa: F401  (registers the tasks the worker runs)
from tests.support.engine import RunningWorker
from tests.support.processes import run_voicepipe, voicepipe_env
from tests.support.speech import standard_fixtures
from voicepipe.db import recordings as recordings_db
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.settings import Settings


async def test_process_uploads_waits_and_reports_chunks(
    settings: Settings, resources: Resources, tmp_path: Path, espeak_cache: Path
) -> None:
    owner = await create_user(resources.db, "maker@example.org")
    speech = standard_fixtures(espeak_cache, n_sentences=4)[0].write(tmp_path / "talk.wav")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("meeting notes, not a recording\n" * 20)
    assert settings.redis_url and settings.database_url
    env = voicepipe_env(
        tmp_path / "cli-home", REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url,
        VOICEPIPE_STORAGE_DIR=str(settings.storage_root),
    )  # fmt: skip
    worker = RunningWorker(resources, ["audio_processing"])
    try:
        done = await asyncio.to_thread(
            run_voicepipe, "process", str(speech), str(not_audio), "--wait",
            "--owner", owner.email, env=env,
        )  # fmt: skip
    finally:
        await worker.close()
    assert done.returncode == 1, done.stderr  # one of the two files is refused
    assert "notes.wav: not an audio file we take (it looks like text)" in done.stderr
    (line,) = [x for x in done.stdout.splitlines() if re.match(r"talk\.wav: \d+ chunks?$", x)]
    chunks = int(line.split()[1])
    (recording,) = await recordings_db.list_recordings(
        resources.db, owner_id=owner.id, statuses=[], search=None, created_after=None,
        created_before=None, limit=10, after=None,
    )  # fmt: skip
    assert recording.status == "processed" and recording.chunk_count == chunks >= 1
