"""`voicepipe bench chaos` end to end, small: real workers killed with -9 or stopped past their
heartbeat; nothing lost or failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.settings import Settings


def _chaos(settings: Settings, tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    """The figures of one `voicepipe bench chaos --json` run, and its stderr."""
    env = voicepipe_env(
        tmp_path / "home", REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url), VOICEPIPE_LOG_LEVEL="WARNING",
    )  # fmt: skip
    done = run_voicepipe("bench", "chaos", *args, "--json", env=env, timeout_s=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_chaos_bench_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    figures, stderr = _chaos(
        settings, tmp_path, "--jobs", "20", "--kills", "1", "--concurrency", "2", "--seed", "24"
    )
    assert figures["jobs"] == 20 and figures["kills"] == 1 and figures["stalls"] == 0, figures
    assert figures["lost"] == 0 and figures["failed"] == 0, figures
    assert figures["recorded"] == 20 and figures["marked_done"] == 20, figures
    assert figures["orphaned_unkilled"] == 0, figures  # no live worker was taken for dead
    # Seed 24 kills 1.0 s into a queue that lasts ~3.4 s (two slots per worker), a worker with jobs
    # in hand: they ran again, and soon.
    assert figures["orphaned"] >= 1 and figures["ran_twice"] >= 1, figures
    assert figures["recovery_s_max"] < 15, figures
    assert "jobs done" in stderr  # the progress bar


def test_a_stalled_worker_s_late_outcomes_are_dropped(settings: Settings, tmp_path: Path) -> None:
    figures, stderr = _chaos(
        settings, tmp_path,
        "--jobs", "30", "--kills", "0", "--stalls", "1", "--concurrency", "2", "--seed", "1",
    )  # fmt: skip
    assert figures["stalls"] == 1 and figures["kills"] == 0, figures
    # Whatever the seed, the bench stops a worker with jobs in hand (seed 1: two, 2.2 s in), for
    # 6 s, until the other worker's reaper has released them, and continues it.
    assert "job(s) in hand" in stderr and "continued worker-" in stderr
    # The stalled worker's jobs were released to the other one, and its late outcomes dropped.
    assert figures["stall_released"] >= 1 and figures["stall_recovery_s_max"] < 15, figures
    assert figures["stale_outcomes"] >= 1 and figures["ran_twice"] >= 1, figures
    assert figures["lost"] == 0 and figures["failed"] == 0, figures
    assert figures["final_not_success"] == 0 and figures["statuses"] == {"success": 30}, figures
    assert figures["recorded"] == 30 and figures["marked_done"] == 30, figures
    # Only the stalled worker's jobs were released: no live worker was taken for dead.
    assert figures["orphaned_unkilled"] == 0 and figures["orphaned"] == 0, figures
