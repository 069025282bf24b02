"""Handlers of the crowd's endpoints: the next chunk, a chunk and its audio, transcriptions."""

from __future__ import annotations

from aiohttp import web

from voicepipe import errors
from voicepipe.services import crowd
from voicepipe.web.api import Call
from voicepipe.web.models_crowd import ChunkOut, TranscriptionCreated, TranscriptionIn


def _chunk_id(call: Call) -> int:
    text = call.path["chunk_id"]
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound(f"no chunk with id {text}")
    return int(text)


async def next_chunk(call: Call) -> ChunkOut:
    chunk = await crowd.next_chunk(call.resources, call.caller)
    return ChunkOut.of(chunk, show_consensus=False)


async def get_chunk(call: Call) -> ChunkOut:
    chunk = await crowd.visible_chunk(call.resources, call.caller, _chunk_id(call))
    return ChunkOut.of(chunk, show_consensus=call.is_admin or chunk.owner_id == call.caller.id)


async def chunk_audio(call: Call) -> web.FileResponse:
    path = await crowd.chunk_audio_path(call.resources, call.caller, _chunk_id(call))
    return web.FileResponse(path, headers={"Content-Type": "audio/flac"})


async def create_transcription(call: Call) -> TranscriptionCreated:
    body: TranscriptionIn = call.body
    submitted = await crowd.submit_transcription(
        call.resources, call.caller, _chunk_id(call), body.text
    )
    return TranscriptionCreated(
        transcription_id=submitted.transcription_id, chunk_id=submitted.chunk_id,
        transcription_count=submitted.transcription_count,
        consensus_job_id=submitted.consensus_job_id,
    )  # fmt: skip
