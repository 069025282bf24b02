"""`voicepipe consensus INPUT.jsonl`: consensus, confidence and needs-more for every chunk."""

from __future__ import annotations

import json
import sys
from typing import IO

import click
from pydantic import BaseModel, ValidationError

from voicepipe.domain.consensus import (
    Decision,
    NeedsMorePolicy,
    PreparedChunk,
    Transcription,
    decide_chunk,
    estimate_accuracy_prepared,
    prepare,
)
from voicepipe.errors import InvalidInput

ChunkId = int | str


class _TranscriptionLine(BaseModel):
    contributor_id: int | str
    text: str


class _ChunkLine(BaseModel):
    chunk_id: ChunkId
    transcriptions: list[_TranscriptionLine]


def read_chunks(stream: IO[str]) -> list[_ChunkLine]:
    """Parse JSON lines; a bad line is an InvalidInput naming its line number."""
    chunks = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            chunks.append(_ChunkLine.model_validate_json(line))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "line"
            raise InvalidInput(f"line {number}: {where}: {problem['msg']}") from exc
    return chunks


@click.command()
@click.argument("input_file", metavar="INPUT.jsonl", type=click.File("r", encoding="utf-8"))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per chunk and line")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.9,
    show_default=True,
    help="confidence below which to ask for more",
)
@click.option(
    "--max-count",
    type=click.IntRange(3),
    default=7,
    show_default=True,
    help="transcriptions after which a doubtful chunk goes to expert review",
)
def consensus(input_file: IO[str], as_json: bool, threshold: float, max_count: int) -> None:
    """Consensus transcript per chunk, weighting contributors by their estimated accuracy.

    Accuracy is estimated over the whole input first, so give it many chunks at once.
    """
    policy = NeedsMorePolicy(confidence_threshold=threshold, max_count=max_count)
    lines = read_chunks(input_file)
    prepared: list[PreparedChunk] = []
    with click.progressbar(lines, label="aligning", file=sys.stderr) as bar:
        for line in bar:
            prepared.append(
                prepare([Transcription(str(t.contributor_id), t.text) for t in line.transcriptions])
            )
    accuracy = {c: a.accuracy for c, a in estimate_accuracy_prepared(prepared).items()}
    for line, chunk in zip(lines, prepared, strict=True):
        result = decide_chunk(chunk, accuracy, policy)
        if as_json:
            record = {
                "chunk_id": line.chunk_id,
                "consensus_text": result.text,
                "confidence": round(result.confidence, 4),
                "needs_more": result.decision is Decision.NEED_MORE,
            }
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(
                f"{line.chunk_id!s:>12}  {result.confidence:6.3f}  {result.decision.value:13s}  "
                f"{result.text}"
            )
