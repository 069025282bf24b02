"""A CPU pool's preload runs once in its fork server: children start with it imported and warm."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from voicepipe.worker.cpu import CpuPool

ROOT = Path(__file__).resolve().parents[2]
PRELOAD = "voicepipe.audio.warm"


def in_child() -> dict[str, Any]:
    """What a child has loaded before it runs any job."""
    return {
        "preloaded": PRELOAD in sys.modules,
        "librosa": "librosa.feature.spectral" in sys.modules,
    }


async def _probe() -> dict[str, Any]:
    pool = CpuPool(2, preload=(PRELOAD,))
    pool.warm_up()
    try:
        children = [await pool.run("probe", in_child), await pool.run("probe", in_child)]
    finally:
        pool.close()
    return {"parent_has_it": PRELOAD in sys.modules, "children": children}


def probe() -> None:
    print(json.dumps(asyncio.run(_probe())))


def test_children_start_with_the_preload_done_and_the_parent_without_it() -> None:
    # in a fresh interpreter: the fork server is one per process, and another test's pool may
    # have started it already, without this preload
    done = subprocess.run(
        [sys.executable, "-c", "from tests.unit.test_cpu_preload import probe; probe()"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["parent_has_it"] is False  # the worker's own process stays small
    # warm: librosa's features, loaded (and compiled) by the preload before the fork
    assert report["children"] == [{"preloaded": True, "librosa": True}] * 2
