"""The consensus jobs on a real worker, fed by a simulated crowd through the API."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner

import voicepipe.tasks.consensus  # noqa: F401  (registers the consensus tasks)
from tests.integration.test_crowd_api import make_recording, transcribe
from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.crowd import simulate
from tests.support.engine import RunningWorker
from voicepipe.cli.consensus import consensus as consensus_command
from voicepipe.db.consensus import transcriptions_of
from voicepipe.domain.consensus import NeedsMorePolicy, chunk_consensus
from voicepipe.domain.consensus import Transcription as Said
from voicepipe.engine.registry import JobHandle
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.services.consensus import STATUS, policy_of
from voicepipe.services.crowd import CONSENSUS_TASK

CHUNKS = 16


@pytest.fixture
async def worker(resources: Resources) -> AsyncIterator[RunningWorker]:
    running = RunningWorker(resources, ["consensus", "maintenance"])
    yield running
    await running.close()


async def crowd_submits(api: Api, resources: Resources) -> tuple[list[int], dict[int, str]]:
    """16 chunks, each transcribed through the API by 4 honest people and 1 spammer of a
    13-person crowd (8 honest, 5 spammers); waits for the consensus jobs the submissions
    queued; returns the chunk ids and user id -> simulated contributor id."""
    simulated = simulate(seed=7, chunks=CHUNKS, per_chunk=4, spammers_per_chunk=1, crowd_size=8)
    people = sorted({cid for chunk in simulated for cid, _ in chunk.transcriptions})
    assert len(people) >= 8 and any(p.startswith("s") for p in people)
    accounts = {p: await create_user(resources.db, f"{p}@crowd.example.org") for p in people}
    chunk_ids = await make_recording(resources, api.user_id, CHUNKS)
    jobs = []
    for chunk_id, chunk in zip(chunk_ids, simulated, strict=True):
        for who, text in chunk.transcriptions:
            status, body = await transcribe(api, accounts[who].token, chunk_id, text)
            if status == 422:  # a spammer's blank "transcription": refused at the door
                assert not text.strip(), (text, body)
                continue
            assert status == 201, body
            if body["consensus_job_id"]:
                jobs.append(body["consensus_job_id"])
    assert len(jobs) >= CHUNKS  # each chunk's third transcription queued one at least
    for job_id in jobs:
        await JobHandle(job_id, CONSENSUS_TASK, "consensus", resources).result(timeout_s=60)
    return chunk_ids, {a.id: p for p, a in accounts.items()}


async def stored(resources: Resources, chunk_ids: list[int]) -> dict[int, Any]:
    rows = await resources.db.fetch(
        """SELECT id, consensus_text, confidence, status, consensus_job_id, consensus_at
           FROM chunks WHERE id = ANY($1) ORDER BY id""",
        chunk_ids,
    )
    return {row["id"]: row for row in rows}


async def test_transcriptions_queue_jobs_that_write_consensus_and_flag_spam(
    api: Api, resources: Resources, worker: RunningWorker
) -> None:
    chunk_ids, _ = await crowd_submits(api, resources)
    policy = policy_of(resources.settings)

    async def expected() -> dict[int, Any]:
        rows = await transcriptions_of(resources.db, chunk_ids)
        out = {}
        for chunk_id in chunk_ids:
            mine = [Said(str(r[2]), r[3]) for r in rows if r[0] == chunk_id]
            out[chunk_id] = chunk_consensus(mine, {}, policy)  # no reliability stored yet
        return out

    want = await expected()
    now = await stored(resources, chunk_ids)
    for c in chunk_ids:
        assert now[c]["consensus_text"] == want[c].text
        assert now[c]["confidence"] == pytest.approx(want[c].confidence)
        assert now[c]["status"] == STATUS[want[c].decision]
        assert now[c]["consensus_at"] is not None and now[c]["consensus_job_id"] is None
    assert {row["status"] for row in now.values()} <= {"consensus", "needs_more", "expert_review"}
    want_spam = {(c, int(cid), reason) for c in chunk_ids for cid, reason in want[c].spam}
    assert want_spam  # the crowd's spammers were caught by the domain's rules, and flagged:
    assert await _flags(resources) == want_spam


async def _flags(resources: Resources) -> set[tuple[int, int, str]]:
    rows = await resources.db.fetch(
        "SELECT chunk_id, contributor_id, spam_reason FROM transcriptions WHERE flagged_spam"
    )
    return {(r["chunk_id"], r["contributor_id"], r["spam_reason"]) for r in rows}


async def test_recalculate_all_through_the_api_matches_the_consensus_command(
    api: Api, resources: Resources, worker: RunningWorker
) -> None:
    chunk_ids, simulated_of = await crowd_submits(api, resources)
    wrongly = await resources.db.fetchval(  # a stale flag on an honest transcription
        """UPDATE transcriptions SET flagged_spam = true, spam_reason = 'stale'
           WHERE id = (SELECT min(id) FROM transcriptions WHERE NOT flagged_spam) RETURNING id"""
    )
    assert wrongly is not None
    status, body = await api.post("/api/jobs", api.admin, {"task": "recalculate_all_consensus"})
    assert status == 202, body
    handle = JobHandle(body["task_id"], "recalculate_all_consensus", "maintenance", resources)
    result = await handle.result(timeout_s=60)
    assert result["chunks"] == CHUNKS and result["contributors"] == len(simulated_of)

    reliability = {
        simulated_of[row["contributor_id"]]: row["reliability"]
        for row in await resources.db.fetch("SELECT * FROM contributor_reliability")
    }
    assert len(reliability) == len(simulated_of)
    honest = [v for p, v in reliability.items() if p.startswith("h")]
    spammers = [v for p, v in reliability.items() if p.startswith("s")]
    assert max(spammers) < min(honest), reliability

    # `voicepipe consensus` on the same transcriptions, in the platform's chunk order
    rows = await transcriptions_of(resources.db, chunk_ids)
    lines = []
    for chunk_id in chunk_ids:
        mine = [{"contributor_id": r[2], "text": r[3]} for r in rows if r[0] == chunk_id]
        lines.append(json.dumps({"chunk_id": chunk_id, "transcriptions": mine}))
    policy = policy_of(resources.settings)
    assert policy == NeedsMorePolicy()  # the command's defaults: same threshold and cap
    run = CliRunner().invoke(consensus_command, ["--json", "-"], input="\n".join(lines))
    assert run.exit_code == 0, run.output
    command = {
        r["chunk_id"]: r for r in map(json.loads, io.StringIO(run.stdout).read().splitlines())
    }

    now = await stored(resources, chunk_ids)
    for c in chunk_ids:
        assert now[c]["consensus_text"] == command[c]["consensus_text"]
        assert round(now[c]["confidence"], 4) == command[c]["confidence"]
        assert (now[c]["status"] == "needs_more") == command[c]["needs_more"]
    assert result["written"] == CHUNKS
    assert not await resources.db.fetchval(
        "SELECT flagged_spam FROM transcriptions WHERE id = $1", wrongly
    )  # unflagged again
