"""The chaos bench's faults: a worker killed with -9, or stopped past its heartbeat and continued.

Faults happen one at a time, each only while both workers beat, so one worker is always alive
and running. A kill takes a worker with jobs in hand (if either has any); a stall waits for one
with jobs in hand, SIGSTOPs it until the other worker's reaper has released every job it held,
then SIGCONTs it and waits until it beats again, done with them: its late outcomes for those jobs
are dropped by the engine as `stale` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from voicepipe.bench.waiting import until
from voicepipe.embedded.supervisor import Child
from voicepipe.engine import heartbeats
from voicepipe.engine.running import running_entries
from voicepipe.resources import Resources

Say = Callable[[str], None]
FaultKind = Literal["kill", "stall"]
# A stall lasts past the heartbeat expiry, so the other worker's reaper releases the jobs.
STALL_S = heartbeats.HEARTBEAT_TTL_S + 2
# The longest a stalled worker stays stopped waiting for its jobs to be released.
RELEASE_TIMEOUT_S = 30.0


@dataclass
class Fault:
    """A worker killed (for good) or stopped and, `until` then, continued."""

    kind: FaultKind
    worker: str
    at: float  # epoch s of the SIGKILL or SIGSTOP
    until: float = math.inf  # epoch s of a stall's SIGCONT

    def caused(self, worker: str, released_at: float) -> bool:
        """Whether releasing a job of `worker` at `released_at` follows from this fault: it came
        after it, and (a stall's) before the woken worker's next heartbeat was surely written."""
        return (
            worker == self.worker
            and self.at <= released_at <= self.until + heartbeats.HEARTBEAT_TTL_S
        )


@dataclass
class Faults:
    """The faults planned and done to the supervised workers of one chaos run."""

    resources: Resources
    children: list[Child]
    progress: Say
    stall_s: float = STALL_S
    done: list[Fault] = field(default_factory=list)
    killed_pids: set[int] = field(default_factory=set)
    running: asyncio.Task[None] | None = None  # the planned faults, one after the other
    stalling: asyncio.Task[None] | None = None  # the last stall's wait to continue its worker

    def count(self, kind: FaultKind) -> int:
        return sum(1 for fault in self.done if fault.kind == kind)

    def start(
        self, plan: list[tuple[float, FaultKind]], started: float,
        kill_rng: random.Random, stall_rng: random.Random,
    ) -> None:  # fmt: skip
        """Each planned fault at its moment (seconds after `started`), or as soon as the one
        before it is over, until `over`."""
        self.running = asyncio.create_task(self._run(plan, started, kill_rng, stall_rng))

    async def over(self) -> None:
        """No fault starts any more; a stall under way runs its course."""
        if self.running is not None:
            self.running.cancel()
        await asyncio.gather(
            *(task for task in (self.running, self.stalling) if task), return_exceptions=True
        )

    async def _run(
        self, plan: list[tuple[float, FaultKind]], started: float,
        kill_rng: random.Random, stall_rng: random.Random,
    ) -> None:  # fmt: skip
        for at_s, kind in plan:
            await asyncio.sleep(max(0.0, started + at_s - time.time()))
            if kind == "kill":
                await self.kill(kill_rng, started)
            else:
                await self.stall(stall_rng, started)

    async def kill(self, rng: random.Random, started: float) -> None:
        await until(self.all_up, 120, "both workers to be up before a kill", every_s=0.05)
        beats = await self._beating()
        candidates = await self._with_jobs(beats) or [
            (c, beats[c.process.pid]) for c in self.children if c.process
        ]
        victim, worker_id = rng.choice(candidates)
        assert victim.process is not None
        os.kill(victim.process.pid, signal.SIGKILL)
        self.done.append(Fault("kill", worker_id, time.time()))
        self.killed_pids.add(victim.process.pid)
        self.progress(f"killed {victim.name} ({worker_id}) at {time.time() - started:.1f}s")

    async def stall(self, rng: random.Random, started: float) -> None:
        while True:
            victim, worker_id = await self._busy_worker(rng)
            assert victim.process is not None
            pid = victim.process.pid
            held: set[str] = set()
            os.kill(pid, signal.SIGSTOP)
            try:
                held = await self._held(worker_id)
            finally:
                if not held:  # its jobs finished in the instant before (pick again), or run over
                    os.kill(pid, signal.SIGCONT)
            if held:
                break
        fault = Fault("stall", worker_id, time.time())
        self.done.append(fault)
        self.progress(f"stopped {victim.name} ({worker_id}) with {len(held)} job(s) in hand "
                      f"at {fault.at - started:.1f}s")  # fmt: skip
        # The stall runs its course even if the run ends meanwhile (see `over`), so the worker
        # always wakes as a running worker does, not into its shutdown.
        self.stalling = asyncio.create_task(self._continue_later(fault, victim.name, pid, held))
        await asyncio.shield(self.stalling)

    async def _continue_later(self, fault: Fault, name: str, pid: int, held: set[str]) -> None:
        """SIGCONT the stopped worker once `stall_s` is over and its held jobs are released; then
        wait until it beats again, done with them (their outcomes dropped as stale)."""

        async def released() -> bool:
            return not held & await self._held(fault.worker)

        async def woke() -> bool:
            workers = await heartbeats.get_workers(self.resources.redis)
            return any(
                w["id"] == fault.worker and not held & set(w.get("running", ())) for w in workers
            )

        try:
            await asyncio.sleep(self.stall_s)
            with contextlib.suppress(TimeoutError):
                await until(released, RELEASE_TIMEOUT_S, "the stalled jobs' release", every_s=0.05)
        finally:
            os.kill(pid, signal.SIGCONT)
            fault.until = time.time()
        with contextlib.suppress(TimeoutError):
            await until(woke, RELEASE_TIMEOUT_S, f"{name} to run again", every_s=0.05)
        self.progress(f"continued {name} after {fault.until - fault.at:.1f}s")

    async def all_up(self) -> bool:
        """Every child runs a process we did not kill (its death may not be noticed yet) that
        sends heartbeats."""
        beats = await self._beating()
        return all(
            c.process is not None
            and c.process.pid in beats
            and c.process.pid not in self.killed_pids
            for c in self.children
        )

    async def _busy_worker(self, rng: random.Random) -> tuple[Child, str]:
        """A child with jobs in hand while both workers are up, waiting for one if need be."""
        candidates: list[tuple[Child, str]] = []

        async def found() -> bool:
            nonlocal candidates
            candidates = await self._with_jobs(await self._beating()) if await self.all_up() else []
            return bool(candidates)

        await until(found, 120, "a worker with jobs in hand to stall", every_s=0.02)
        return rng.choice(candidates)

    async def _with_jobs(self, beats: dict[int, str]) -> list[tuple[Child, str]]:
        """Children whose worker has jobs in hand, with their worker ids."""
        busy = {e.worker for e in await running_entries(self.resources.redis, ["default"])}
        return [
            (c, beats[c.process.pid])
            for c in self.children
            if c.process and beats.get(c.process.pid) in busy
        ]

    async def _held(self, worker_id: str) -> set[str]:
        entries = await running_entries(self.resources.redis, ["default"])
        return {entry.job_id for entry in entries if entry.worker == worker_id}

    async def _beating(self) -> dict[int, str]:
        """pid -> worker id of every worker whose heartbeat is live."""
        workers = await heartbeats.get_workers(self.resources.redis)
        return {w["pid"]: w["id"] for w in workers}


def fault_plan(
    kills: int, stalls: int, run_s: float, kill_rng: random.Random, stall_rng: random.Random
) -> list[tuple[float, FaultKind]]:
    """Moments (seconds into a run of `run_s`) for the kills and stalls, in order; each kind has
    its own random source, so adding stalls leaves the kills' draws as they were."""
    kill_at = [kill_rng.uniform(0.1, 0.9) * run_s for _ in range(kills)]
    stall_at = [stall_rng.uniform(0.1, 0.9) * run_s for _ in range(stalls)]
    plan: list[tuple[float, FaultKind]] = [(at, "kill") for at in kill_at]
    plan += [(at, "stall") for at in stall_at]
    return sorted(plan)
