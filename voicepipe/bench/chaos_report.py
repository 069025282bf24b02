"""What a chaos run left in PostgreSQL: each job's final status, and how fast orphans recovered."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from voicepipe.db.jobs import jobs_by_ids
from voicepipe.history import monitoring
from voicepipe.resources import Resources


@dataclass
class Recoveries:
    recovery_s: list[float] = field(default_factory=list)  # kill -> the orphaned job started again
    released_s: list[float] = field(default_factory=list)  # kill -> the job released to its queue
    unkilled: int = 0  # orphaned jobs whose worker was never killed (a false alarm)
    jobs: set[str] = field(default_factory=set)  # jobs released at least once


async def outcomes(resources: Resources, ids: list[str]) -> tuple[dict[str, int], int]:
    """Jobs per recorded status, and how many jobs are recorded at all."""
    infos = await jobs_by_ids(resources.db, ids)
    return dict(Counter(str(info.status) for info in infos.values())), len(infos)


async def recoveries(resources: Resources, ids: list[str], killed: dict[str, float]) -> Recoveries:
    """From every job's timeline: each `retry` marked orphaned, and the next try's `started`."""
    found = Recoveries()
    for job_id in ids:
        timeline = await monitoring.get_job_timeline(resources, job_id)
        for n, event in enumerate(timeline):
            if event.event != "retry" or not event.data.get("orphaned"):
                continue
            killed_at = killed.get(event.worker or "")
            if killed_at is None:
                found.unkilled += 1
                continue
            found.jobs.add(job_id)
            found.released_s.append(event.at.timestamp() - killed_at)
            again = next(
                (e for e in timeline[n + 1 :]
                 if e.event == "started" and (e.try_number or 0) > (event.try_number or 0)),
                None,
            )  # fmt: skip
            if again is not None:
                found.recovery_s.append(again.at.timestamp() - killed_at)
    return found
