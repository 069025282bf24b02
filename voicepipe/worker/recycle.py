"""Worker recycling (Celery's worker_max_tasks_per_child): past its job or memory limit a worker
process drains and exits, and its supervisor starts a fresh one in its place.

The job limit counts jobs run, whatever their outcome; a worker claims no more than its limit
leaves, so its last job finishes before it goes and none is handed back. Memory (the resident set
of the worker process, not of its CPU pool's children) is checked after every job and on every
heartbeat, and only once the process has run a job: a limit below what a fresh worker needs would
otherwise restart it in a loop without doing any work. Such a worker runs one job per process (it
says so when it starts) and drains the others it holds like any graceful restart.
"""

from __future__ import annotations

import logging

import psutil

from voicepipe.settings import Settings, env_name

log = logging.getLogger(__name__)

# Why a worker process asks to be restarted; its supervisor knows each by the exit code the worker
# leaves with (voicepipe.embedded.supervisor.RESTART_EXIT_CODES).
ADMIN_RESTART = "admin restart"
MAX_JOBS = "max jobs"
MAX_MEMORY = "max memory"

MB = 1024 * 1024


class Recycling:
    """One worker process's limits (0 = none) and how far along them it is."""

    def __init__(self, max_jobs: int = 0, max_memory_mb: int = 0) -> None:
        self.max_jobs = max_jobs
        self.max_memory_mb = max_memory_mb
        self.process = psutil.Process()
        self.claimed = 0
        self.done = 0
        self.reached: str | None = None  # the limit passed, once it is

    @classmethod
    def from_settings(cls, settings: Settings) -> Recycling:
        return cls(settings.worker_max_jobs, settings.worker_max_memory_mb)

    def claimable(self, free_slots: int) -> int:
        """How many jobs may be claimed into `free_slots`: no more than the job limit leaves."""
        if not self.max_jobs:
            return free_slots
        return max(0, min(free_slots, self.max_jobs - self.claimed))

    def rss_bytes(self) -> int:
        return int(self.process.memory_info().rss)

    def starting(self) -> None:
        if self.max_memory_mb and (rss := self.rss_bytes()) > self.max_memory_mb * MB:
            log.warning("worker RSS at start, %.0f MB, is above %s=%d: each process will run one "
                        "job and be replaced", rss / MB, env_name("worker_max_memory_mb"),
                        self.max_memory_mb)  # fmt: skip

    def job_done(self) -> str | None:
        """Count a job run; the limit it reached, the first time one is."""
        self.done += 1
        if self.reached is None and self.max_jobs and self.done >= self.max_jobs:
            self.reached = MAX_JOBS
            log.info("worker recycles: it ran %d jobs (%s=%d)", self.done,
                     env_name("worker_max_jobs"), self.max_jobs)  # fmt: skip
            return self.reached
        return self.memory()

    def memory(self, rss_bytes: int | None = None) -> str | None:
        """Check the process's RSS (measured now if not given); the limit it reached, the first
        time one is."""
        if self.reached is not None or not self.max_memory_mb or not self.done:
            return None
        rss = self.rss_bytes() if rss_bytes is None else rss_bytes
        if rss <= self.max_memory_mb * MB:
            return None
        self.reached = MAX_MEMORY
        log.info("worker recycles: its RSS is %.1f MB (%s=%d) after %d job(s)", rss / MB,
                 env_name("worker_max_memory_mb"), self.max_memory_mb, self.done)  # fmt: skip
        return self.reached
