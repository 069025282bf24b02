#!/usr/bin/env python3
"""Evaluate chunking on espeak-ng fixtures with known pauses: boundaries, lengths, coverage.

boundaries_in_speech counts chunk edges anywhere inside a spoken sentence (the strict target:
it must be 0); boundaries_in_sound counts edges that split audible sound, i.e. a word.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.speech import SpeechFixture, espeak_available, standard_fixtures
from voicepipe.audio import chunk_file
from voicepipe.domain.chunking import ChunkingConfig, ChunkPlan


def score(fixture: SpeechFixture, plan: ChunkPlan) -> dict[str, float | int]:
    """Boundaries inside true speech, chunk length range, and share of speech inside chunks."""
    spans = fixture.speech_spans_s
    boundaries = [edge for c in plan.chunks for edge in (c.start_s, c.end_s)]
    inside = sum(1 for b in boundaries if any(a < b < e for a, e in spans))
    through_sound = sum(1 for b in boundaries if fixture.cuts_sound_at(b))
    covered = sum(
        max(0.0, min(e, c.end_s) - max(a, c.start_s)) for a, e in spans for c in plan.chunks
    )
    return {
        "chunks": len(plan.chunks),
        "boundaries_in_speech": inside,
        "boundaries_in_sound": through_sound,
        "forced_cuts": plan.forced_cuts,
        "min_chunk_s": round(min(c.duration_s for c in plan.chunks), 3),
        "max_chunk_s": round(max(c.duration_s for c in plan.chunks), 3),
        "speech_coverage": round(covered / sum(e - a for a, e in spans), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seeds", type=int, default=3, help="recordings per scenario")
    parser.add_argument("--sentences", type=int, default=12, help="sentences per recording")
    parser.add_argument("--min-s", type=float, default=1.0)
    parser.add_argument("--max-s", type=float, default=15.0)
    args = parser.parse_args()
    if not espeak_available():
        sys.exit("eval_chunking needs espeak-ng (apt-get install espeak-ng)")
    config = ChunkingConfig(min_s=args.min_s, max_s=args.max_s)
    rows: dict[str, dict[str, float | int]] = {}
    audio_s = elapsed_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for fixture in standard_fixtures(Path(tmp) / "espeak", args.sentences, seed):
                path = fixture.write(Path(tmp) / f"{fixture.name}.wav")
                started = time.perf_counter()
                plan = chunk_file(path, config)
                elapsed_s += time.perf_counter() - started
                audio_s += fixture.duration_s
                rows[fixture.name] = score(fixture, plan)
    summary = {
        "recordings": len(rows),
        "audio_s": round(audio_s, 1),
        "min_s": config.min_s,
        "max_s": config.max_s,
        "boundaries_in_speech": sum(int(r["boundaries_in_speech"]) for r in rows.values()),
        "boundaries_in_sound": sum(int(r["boundaries_in_sound"]) for r in rows.values()),
        "forced_cuts": sum(int(r["forced_cuts"]) for r in rows.values()),
        "min_chunk_s": min(r["min_chunk_s"] for r in rows.values()),
        "max_chunk_s": max(r["max_chunk_s"] for r in rows.values()),
        "min_speech_coverage": min(r["speech_coverage"] for r in rows.values()),
        "x_real_time": round(audio_s / elapsed_s, 1),
    }
    if args.json:
        print(json.dumps({"summary": summary, "recordings": rows}))
        return
    for name, row in rows.items():
        print(f"{name:24s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    print()
    for key, value in summary.items():
        print(f"{key:22s} {value}")


if __name__ == "__main__":
    main()
