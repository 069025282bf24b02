"""`voicepipe chunk`: JSON keyed by file stem, chunk files with --out, errors per file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.support.speech import SpeechFixture
from voicepipe.cli.chunk import chunk


def test_json_output_is_one_line_keyed_by_stem(
    clean_recording: SpeechFixture, tmp_path: Path
) -> None:
    first = clean_recording.write(tmp_path / "rec01.wav")
    second = clean_recording.write(tmp_path / "rec02.wav", channels=2)
    result = CliRunner().invoke(
        chunk, [str(first), str(second), "--max-s", "5", "--json", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {"rec01", "rec02"}
    chunks = data["rec01"]["chunks"]
    assert len(chunks) >= 2
    assert all(len(c) == 2 and c[0] < c[1] and c[1] - c[0] <= 5.0 for c in chunks)
    assert data["rec01"] == data["rec02"]
    assert len(list((tmp_path / "o").glob("rec01_*.flac"))) == len(chunks)


def test_a_bad_file_is_reported_and_the_rest_still_chunked(
    clean_recording: SpeechFixture, tmp_path: Path
) -> None:
    good = clean_recording.write(tmp_path / "good.wav")
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    result = CliRunner().invoke(chunk, [str(good), str(bad), "--json"])
    assert result.exit_code == 1
    assert "notes.wav: not an audio" in result.stderr
    assert set(json.loads(result.stdout.strip().splitlines()[-1])) == {"good"}


def test_bad_bounds_are_refused(clean_recording: SpeechFixture, tmp_path: Path) -> None:
    path = clean_recording.write(tmp_path / "rec.wav")
    result = CliRunner().invoke(chunk, [str(path), "--min-s", "10", "--max-s", "5"])
    assert result.exit_code != 0
    assert "max_s" in str(result.exception) or "max_s" in result.output
