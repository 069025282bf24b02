"""The voice workload end to end, as clients would drive it: upload speech fixtures over HTTP, wait
for their jobs, check the chunks, have a simulated crowd transcribe them, recalculate consensus
through POST /api/jobs, and score the result against `voicepipe consensus` on the same data.

Used by tests/integration/test_voice_e2e.py at a small size and scripts/eval_platform.py at full size.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, FormData

from tests.support.crowd import Contributor, crowd_of, transcribe
from tests.support.crowd_eval import auroc
from tests.support.speech import SpeechFixture
from voicepipe.domain.consensus import normalize_text, word_error_rate
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user

Say = Callable[[str], None]
FINAL_JOB = ("success", "failure", "cancelled")


@dataclass(frozen=True)
class EvalSize:
    crowd_size: int = 40  # honest contributors; spammers come on top (crowd.make_crowd)
    per_chunk: int = 5  # honest transcriptions per chunk
    spammers_per_chunk: int = 1
    mean_error: float = 0.10
    seed: int = 1


@dataclass
class Client:
    """JSON over HTTP against one base URL."""

    http: ClientSession
    base: str

    async def call(self, method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as r:
            return r.status, await r.json()

    async def ok(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        status, body = await self.call(method, path, token, **kwargs)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status}: {body}")
        return body


async def upload(client: Client, token: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        form = FormData()
        form.add_field("file", f, filename=path.name, content_type="audio/wav")
        form.add_field("title", path.stem)
        body: dict[str, Any] = await client.ok("POST", "/api/recordings", token, data=form)
    return body


async def wait_processed(
    client: Client, token: str, recording_ids: list[int], timeout_s: float
) -> dict[int, dict[str, Any]]:
    """Each recording's final body (processed or failed), polling as a client would."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    done: dict[int, dict[str, Any]] = {}
    while len(done) < len(recording_ids):
        for rid in recording_ids:
            if rid not in done:
                body = await client.ok("GET", f"/api/recordings/{rid}", token)
                if body["status"] in ("processed", "failed"):
                    done[rid] = body
        if loop.time() > deadline:
            raise AssertionError(f"only {len(done)} of {len(recording_ids)} recordings processed")
        await asyncio.sleep(0.2)
    return done


async def chunks_of(client: Client, token: str, recording_id: int) -> list[dict[str, Any]]:
    """Every chunk of the recording, following pages if there are several."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        body = await client.ok(
            "GET", f"/api/recordings/{recording_id}/chunks", token, params=params
        )
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


@dataclass(frozen=True)
class ChunkCheck:
    chunks: int
    boundaries_in_speech: int  # chunk edges strictly inside a spoken sentence
    out_of_bounds: int  # chunks shorter than min_s or longer than max_s


def check_chunks(
    fixture: SpeechFixture, chunks: list[dict[str, Any]], min_s: float, max_s: float
) -> ChunkCheck:
    tolerance_s = 0.011  # one 10 ms frame of rounding
    edges = [edge for c in chunks for edge in (c["start_s"], c["end_s"])]
    inside = sum(1 for b in edges if any(a < b < e for a, e in fixture.speech_spans_s))
    lengths = [c["end_s"] - c["start_s"] for c in chunks]
    bad = sum(1 for n in lengths if n < min_s - tolerance_s or n > max_s + tolerance_s)
    return ChunkCheck(len(chunks), inside, bad)


def crowd_texts(
    size: EvalSize, truths: list[str]
) -> tuple[list[Contributor], list[list[tuple[str, str]]]]:
    """The crowd, and per chunk its (contributor, text) pairs: honest people with typing errors,
    and spammers (crowd.transcribe's error model)."""
    rng = random.Random(size.seed)
    crowd = crowd_of(size.seed, size.crowd_size, size.mean_error)
    honest = [c for c in crowd if c.spam_style is None]
    spam = [c for c in crowd if c.spam_style is not None]
    per_chunk = []
    for k, truth in enumerate(truths):
        other = truths[(k + 1) % len(truths)]
        people = rng.sample(honest, size.per_chunk) + rng.sample(spam, size.spammers_per_chunk)
        per_chunk.append(
            [(who.contributor_id, transcribe(rng, truth, who, other)) for who in people]
        )
    return crowd, per_chunk


async def make_accounts(
    resources: Resources, crowd: list[Contributor]
) -> dict[str, tuple[int, str]]:
    """One platform account per simulated contributor: id -> (user id, API token)."""
    accounts = {}
    for who in crowd:
        new = await create_user(resources.db, f"{who.contributor_id}@crowd.example.org")
        accounts[who.contributor_id] = (new.id, new.token)
    return accounts


async def submit_all(
    client: Client,
    accounts: dict[str, tuple[int, str]],
    chunk_ids: list[int],
    texts: list[list[tuple[str, str]]],
    at_once: int = 16,
) -> int:
    """POST every transcription; an empty (spam) text the API refuses counts as not submitted."""
    slots = asyncio.Semaphore(at_once)
    accepted = 0

    async def one(chunk_id: int, who: str, text: str) -> None:
        nonlocal accepted
        async with slots:
            status, body = await client.call(
                "POST",
                f"/api/chunks/{chunk_id}/transcriptions",
                accounts[who][1],
                json={"text": text},
            )
        if status == 201:
            accepted += 1
        elif status != 422:  # an empty or blank text is refused, as it should be
            raise AssertionError(f"transcription of chunk {chunk_id} -> {status}: {body}")

    await asyncio.gather(
        *(
            one(cid, who, text)
            for cid, pairs in zip(chunk_ids, texts, strict=True)
            for who, text in pairs
        )
    )
    return accepted


async def wait_job(client: Client, token: str, job_id: str, timeout_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        status, body = await client.call("GET", f"/api/jobs/info/{job_id}", token)
        if status == 200 and body["status"] in FINAL_JOB:
            return dict(body)
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} did not end within {timeout_s}s")
        await asyncio.sleep(0.2)


def cli_consensus(rows: list[tuple[int, list[tuple[int, str]]]]) -> dict[int, tuple[str, float]]:
    """`voicepipe consensus --json` run as a user would, on the same transcriptions."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for chunk_id, pairs in rows:
            items = [{"contributor_id": str(uid), "text": text} for uid, text in pairs]
            f.write(json.dumps({"chunk_id": chunk_id, "transcriptions": items}) + "\n")
        name = f.name
    try:
        done = subprocess.run(
            [sys.executable, "-m", "voicepipe", "consensus", "--json", name],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    finally:
        Path(name).unlink()
    out = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        out[int(record["chunk_id"])] = (record["consensus_text"] or "", float(record["confidence"]))
    return out


def score(truths: dict[int, str], answers: dict[int, tuple[str, float]]) -> dict[str, float]:
    """Mean per-chunk WER against the truth, share exactly right, AUROC of the confidence."""
    wers, exact, confidence = [], [], []
    for chunk_id, truth in truths.items():
        text, conf = answers[chunk_id]
        reference, hypothesis = normalize_text(truth).split(), normalize_text(text).split()
        wers.append(word_error_rate(reference, hypothesis))
        exact.append(reference == hypothesis)
        confidence.append(conf)
    return {
        "wer": round(sum(wers) / len(wers), 4),
        "exact_share": round(sum(exact) / len(exact), 4),
        "auroc": round(auroc(confidence, exact), 4),
    }


async def evaluate(
    client: Client,
    resources: Resources,
    fixtures: list[SpeechFixture],
    folder: Path,
    size: EvalSize,
    say: Say,
    timeout_s: float = 600,
) -> dict[str, Any]:
    """The whole flow; figures for the chunking and the consensus, the CLI's beside the platform's."""
    settings = resources.settings
    owner = await create_user(resources.db, "uploader@example.org")
    admin = await create_user(resources.db, "eval-admin@example.org", admin=True)
    say(f"uploading {len(fixtures)} recordings…")
    by_id: dict[int, SpeechFixture] = {}
    for fixture in fixtures:
        answer = await upload(client, owner.token, fixture.write(folder / f"{fixture.name}.wav"))
        by_id[int(answer["recording_id"])] = fixture
    processed = await wait_processed(client, owner.token, list(by_id), timeout_s)
    failed = {
        rid: body["error"] for rid, body in processed.items() if body["status"] != "processed"
    }
    if failed:
        raise AssertionError(f"recordings failed: {failed}")
    checks, truths, chunk_ids = [], {}, []
    for rid, fixture in by_id.items():
        chunks = await chunks_of(client, owner.token, rid)
        checks.append(check_chunks(fixture, chunks, settings.chunk_min_s, settings.chunk_max_s))
        for chunk in chunks:
            truths[int(chunk["chunk_id"])] = fixture.text_between(chunk["start_s"], chunk["end_s"])
            chunk_ids.append(int(chunk["chunk_id"]))
    crowd, texts = crowd_texts(size, [truths[c] for c in chunk_ids])
    accounts = await make_accounts(resources, crowd)
    say(f"{len(crowd)} contributors transcribing {len(chunk_ids)} chunks…")
    submitted = await submit_all(client, accounts, chunk_ids, texts)
    say("recalculating consensus (POST /api/jobs recalculate_all_consensus)…")
    enqueued = await client.ok(
        "POST", "/api/jobs", admin.token, json={"task": "recalculate_all_consensus", "kwargs": {}}
    )
    job = await wait_job(client, admin.token, enqueued["task_id"], timeout_s)
    if job["status"] != "success":
        raise AssertionError(f"recalculate_all_consensus ended {job['status']}: {job['error']}")
    platform = {}
    for rid in by_id:
        for chunk in await chunks_of(client, owner.token, rid):
            platform[int(chunk["chunk_id"])] = (
                chunk["consensus_text"] or "",
                chunk["confidence"] or 0.0,
            )
    user_id = {who: uid for who, (uid, _) in accounts.items()}
    rows = [
        (cid, [(user_id[who], text) for who, text in pairs if text.strip()])
        for cid, pairs in zip(chunk_ids, texts, strict=True)
    ]
    cli = cli_consensus(rows)
    honest = {c.contributor_id for c in crowd if c.spam_style is None}
    single = [
        word_error_rate(normalize_text(truths[cid]).split(), normalize_text(text).split())
        for cid, pairs in zip(chunk_ids, texts, strict=True)
        for who, text in pairs
        if who in honest
    ]
    return {
        "recordings": len(by_id),
        "audio_s": round(sum(f.duration_s for f in fixtures), 1),
        "chunks": len(chunk_ids),
        "boundaries_in_speech": sum(c.boundaries_in_speech for c in checks),
        "chunks_out_of_bounds": sum(c.out_of_bounds for c in checks),
        "contributors": len(crowd),
        "transcriptions_submitted": submitted,
        "single_honest_transcriber_wer": round(sum(single) / len(single), 4),
        "platform": score(truths, platform),
        "voicepipe_consensus_cli": score(truths, cli),
        "same_text_as_cli": sum(
            normalize_text(platform[c][0]) == normalize_text(cli[c][0]) for c in chunk_ids
        ),
        "recalculate_result": job["result"],
    }
