"""A regular install carries every template: setup.cfg's data_files name each templates folder."""

from __future__ import annotations

import configparser
from pathlib import Path

from voicepipe.paths import templates_dir

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_folder_is_installed_with_the_package() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    installed = {
        target.strip(): [g.strip() for g in globs.split() if g.strip()]
        for target, globs in config["options.data_files"].items()
    }
    templates = ROOT / "templates"
    folders = {templates, *(p for p in templates.rglob("*") if p.is_dir())}
    for folder in folders:
        target = "share/voicepipe/" + str(folder.relative_to(ROOT))
        assert target in installed, f"setup.cfg [options.data_files] lacks {target}"
        covered = {f for g in installed[target] for f in ROOT.glob(g)}
        files = {f for f in folder.iterdir() if f.is_file()}
        assert files <= covered, f"{sorted(files - covered)} would not be installed"


def test_a_checkout_finds_its_own_templates() -> None:
    assert templates_dir() == ROOT / "templates"
