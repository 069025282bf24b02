"""The real entry point passes a command's exit code on (click's runner alone would hide a bug here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_failed_file_makes_chunk_exit_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    done = subprocess.run(
        [sys.executable, "-m", "voicepipe", "chunk", str(bad), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.strip() == "{}"
    assert "voicepipe: error: bad.wav" in done.stderr


def test_a_good_command_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voicepipe", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "voicepipe" in done.stdout
