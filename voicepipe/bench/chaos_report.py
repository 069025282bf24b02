"""What a chaos run left in PostgreSQL: each job's final status, how fast released jobs ran again,
and how many late outcomes of stalled workers were dropped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from voicepipe.bench.chaos_faults import Fault, FaultKind
from voicepipe.db.jobs import jobs_by_ids
from voicepipe.domain.job_info import JobEvent
from voicepipe.history import monitoring
from voicepipe.resources import Resources


@dataclass
class Releases:
    """Jobs released from workers one kind of fault took out, and how soon they ran again."""

    recovery_s: list[float] = field(default_factory=list)  # the fault -> the job started again
    released_s: list[float] = field(default_factory=list)  # the fault -> the job released
    jobs: set[str] = field(default_factory=set)  # jobs released at least once


@dataclass
class Recoveries:
    """Every release in a run's history, put down to a kill, a stall or nothing; and stale events."""

    killed: Releases = field(default_factory=Releases)
    stalled: Releases = field(default_factory=Releases)
    unfaulted: int = 0  # releases of a worker neither killed nor stalled then (a false alarm)
    stale: int = 0  # late outcomes dropped (`stale` events)

    def of(self, kind: FaultKind) -> Releases:
        return self.killed if kind == "kill" else self.stalled


async def outcomes(resources: Resources, ids: list[str]) -> tuple[dict[str, int], int]:
    """Jobs per recorded status, and how many jobs are recorded at all."""
    infos = await jobs_by_ids(resources.db, ids)
    return dict(Counter(str(info.status) for info in infos.values())), len(infos)


async def recoveries(resources: Resources, ids: list[str], faults: list[Fault]) -> Recoveries:
    """From every job's timeline: each `retry` marked orphaned, put down to the fault that caused
    it, with the next try's `started`; and the `stale` events."""
    found = Recoveries()
    for job_id in ids:
        timeline = await monitoring.get_job_timeline(resources, job_id)
        found.stale += sum(1 for event in timeline if event.event == "stale")
        for n, event in enumerate(timeline):
            if event.event != "retry" or not event.data.get("orphaned"):
                continue
            released_at = event.at.timestamp()
            fault = next(
                (f for f in reversed(faults) if f.caused(event.worker or "", released_at)), None
            )
            if fault is None:
                found.unfaulted += 1
                continue
            releases = found.of(fault.kind)
            releases.jobs.add(job_id)
            releases.released_s.append(released_at - fault.at)
            again = _next_start(timeline[n + 1 :], event.try_number or 0)
            if again is not None:
                releases.recovery_s.append(again.at.timestamp() - fault.at)
    return found


def _next_start(timeline: list[JobEvent], after_try: int) -> JobEvent | None:
    return next(
        (e for e in timeline if e.event == "started" and (e.try_number or 0) > after_try), None
    )
