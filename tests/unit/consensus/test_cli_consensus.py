"""`voicepipe consensus INPUT.jsonl --json`: one line per chunk with exactly four keys."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.support.crowd import simulate
from voicepipe.cli.consensus import consensus


def _write(path: Path, chunks: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(c) for c in chunks) + "\n", encoding="utf-8")
    return path


def test_json_lines_out(tmp_path: Path) -> None:
    sim = simulate(seed=3, chunks=40, per_chunk=3, spammers_per_chunk=1)
    chunks: list[dict[str, object]] = [
        {
            "chunk_id": k,
            "transcriptions": [{"contributor_id": c, "text": t} for c, t in chunk.transcriptions],
        }
        for k, chunk in enumerate(sim)
    ]
    chunks.append(
        {
            "chunk_id": "agreed",
            "transcriptions": [
                {"contributor_id": 1, "text": "Hello there, world."},
                {"contributor_id": 2, "text": "hello there world"},
                {"contributor_id": 3, "text": "Hello there world!"},
            ],
        }
    )
    result = CliRunner().invoke(consensus, [str(_write(tmp_path / "in.jsonl", chunks)), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["chunk_id"] for line in lines] == [c["chunk_id"] for c in chunks]
    assert all(
        set(line) == {"chunk_id", "consensus_text", "confidence", "needs_more"} for line in lines
    )
    assert lines[-1]["consensus_text"] == "Hello there world"
    assert lines[-1]["confidence"] > 0.9 and lines[-1]["needs_more"] is False
    right = sum(
        line["consensus_text"].lower() == chunk.truth.lower().rstrip(".")
        for line, chunk in zip(lines, sim, strict=False)
    )
    assert right >= 30


def test_bad_input_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"chunk_id": 1, "transcriptions": []}\n{"chunk_id": 2}\n', encoding="utf-8")
    result = CliRunner().invoke(consensus, [str(path), "--json"])
    assert result.exit_code != 0
    assert "line 2" in str(result.exception)
