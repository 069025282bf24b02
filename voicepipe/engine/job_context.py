"""JobContext: what a running job knows about itself and can ask of its worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from voicepipe.errors import Retry
from voicepipe.resources import Resources

ProgressFn = Callable[[float, float | None, dict[str, Any]], Awaitable[None]]
RunCpuFn = Callable[..., Awaitable[Any]]


@dataclass
class JobContext:
    job_id: str
    task_name: str
    queue: str
    try_number: int
    max_retries: int
    priority: int
    worker_id: str
    resources: Resources
    _progress: ProgressFn = field(repr=False)
    _run_cpu: RunCpuFn = field(repr=False)

    async def progress(self, current: float, total: float | None = None, **info: Any) -> None:
        """Report progress; visible in job info and in live events."""
        await self._progress(current, total, info)

    async def run_cpu(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` in the worker's process pool; the event loop stays free meanwhile.

        `fn` and its arguments must be picklable (a module-level function). The child is killed
        if the job hits its hard time limit or is terminated.
        """
        return await self._run_cpu(fn, *args)

    def retry(self, countdown_s: float | None = None, reason: str = "task asked to retry") -> Retry:
        """`raise ctx.retry(countdown_s=30)` runs the job again later if it has tries left."""
        return Retry(countdown_s, reason)

    @property
    def retries_left(self) -> int:
        return max(self.max_retries + 1 - self.try_number, 0)
