"""Worker recycling: the job and memory limits, the settings that set them, and the exit codes
that tell the supervisor why a worker asks to be replaced."""

from __future__ import annotations

import pytest

from voicepipe.embedded.supervisor import (
    RESTART_EXIT_CODE,
    RESTART_EXIT_CODES,
    exit_reason,
    restart_exit_code,
)
from voicepipe.errors import ConfigError
from voicepipe.settings import load_settings
from voicepipe.worker.recycle import ADMIN_RESTART, MAX_JOBS, MAX_MEMORY, MB, Recycling


def test_no_limits_by_default() -> None:
    recycling = Recycling.from_settings(load_settings())
    assert (recycling.max_jobs, recycling.max_memory_mb) == (0, 0)
    assert recycling.claimable(10) == 10
    assert [recycling.job_done() for _ in range(1000)] == [None] * 1000


def test_a_worker_claims_no_more_than_its_job_limit_leaves() -> None:
    recycling = Recycling(max_jobs=5)
    assert recycling.claimable(10) == 5
    recycling.claimed += 3
    assert recycling.claimable(10) == 2 and recycling.claimable(1) == 1
    recycling.claimed += 2
    assert recycling.claimable(10) == 0
    assert [recycling.job_done() for _ in range(5)] == [None] * 4 + [MAX_JOBS]
    assert recycling.job_done() is None  # the limit is reported once


def test_the_memory_limit_counts_only_after_a_job() -> None:
    recycling = Recycling(max_memory_mb=100)
    assert recycling.memory(500 * MB) is None  # a fresh worker over its limit still works
    recycling.done = 1
    assert recycling.memory(99 * MB) is None
    assert recycling.memory(101 * MB) == MAX_MEMORY
    assert recycling.memory(101 * MB) is None  # reported once
    assert recycling.reached == MAX_MEMORY


def test_a_job_done_checks_memory_too() -> None:
    recycling = Recycling(max_memory_mb=1)  # below any real process
    assert recycling.job_done() == MAX_MEMORY


def test_each_reason_a_worker_gives_has_its_own_restart_exit_code() -> None:
    reasons = (ADMIN_RESTART, MAX_JOBS, MAX_MEMORY)
    codes = [restart_exit_code(reason) for reason in reasons]
    assert codes[0] == RESTART_EXIT_CODE and len(set(codes)) == 3
    assert [exit_reason(code) for code in codes] == list(reasons)
    assert set(RESTART_EXIT_CODES) == set(codes)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1, "crashed (exit code 1)"), (-9, "crashed (killed by SIGKILL)"), (0, "exited")],
)
def test_other_exits_are_named(code: int, reason: str) -> None:
    assert exit_reason(code) == reason


def test_the_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEPIPE_WORKER_MAX_JOBS", "500")
    monkeypatch.setenv("VOICEPIPE_WORKER_MAX_MEMORY_MB", "768")
    monkeypatch.setenv("VOICEPIPE_WORKER_RESTARTS", "3")
    monkeypatch.setenv("VOICEPIPE_WORKER_LAST_EXIT", "max jobs")
    settings = load_settings()
    assert (settings.worker_max_jobs, settings.worker_max_memory_mb) == (500, 768)
    assert (settings.worker_restarts, settings.worker_last_exit) == (3, "max jobs")


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("VOICEPIPE_WORKER_MAX_JOBS", "-1", "greater than or equal to 0"),
        ("VOICEPIPE_WORKER_MAX_JOBS", "lots", "valid integer"),
        ("VOICEPIPE_WORKER_MAX_MEMORY_MB", "1.5GB", "valid integer"),
    ],
)
def test_a_bad_limit_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"invalid setting {name}='{value}': .*{words}"):
        load_settings()
