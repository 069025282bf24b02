"""`voicepipe bench chaos` end to end, small: real workers killed with -9, nothing lost or failed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.settings import Settings


def test_chaos_bench_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    env = voicepipe_env(
        tmp_path / "home", REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url), VOICEPIPE_LOG_LEVEL="WARNING",
    )  # fmt: skip
    done = run_voicepipe(
        "bench", "chaos", "--jobs", "20", "--kills", "1", "--concurrency", "2", "--seed", "24", "--json",
        env=env, timeout_s=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["jobs"] == 20 and figures["kills"] == 1, figures
    assert figures["lost"] == 0 and figures["failed"] == 0, figures
    assert figures["recorded"] == 20 and figures["marked_done"] == 20, figures
    assert figures["orphaned_unkilled"] == 0, figures  # no live worker was taken for dead
    # Seed 24 kills 1.0 s into a queue that lasts ~3.4 s (two slots per worker), a worker with jobs
    # in hand: they ran again, and soon.
    assert figures["orphaned"] >= 1 and figures["ran_twice"] >= 1, figures
    assert figures["recovery_s_max"] < 15, figures
    assert "jobs done" in done.stderr  # the progress bar
