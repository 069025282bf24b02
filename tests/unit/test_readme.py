"""The README stays true: its first commands exist and every setting is in its table."""

from __future__ import annotations

import os
from pathlib import Path

from voicepipe.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [env_name(f) for f in Settings.model_fields if f"| `{env_name(f)}` |" not in README]
    assert not missing


def test_the_two_commands_come_first_and_exist() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split()[0] for line in first_block.strip().splitlines()]
    assert commands == ["scripts/up", "scripts/test"]
    for command in commands:
        assert os.access(ROOT / command, os.X_OK), command
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
