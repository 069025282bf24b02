"""Where voicepipe finds the files that ship beside its code (the Jinja templates)."""

from __future__ import annotations

import sys
from pathlib import Path


def templates_dir() -> Path:
    """The repository's `templates/` (a checkout or an editable install), else the copy a
    regular install puts under `<prefix>/share/voicepipe/templates` (setup.cfg data_files)."""
    beside = Path(__file__).resolve().parents[1] / "templates"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "voicepipe" / "templates"
