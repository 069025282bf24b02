"""Text search over jobs gives the same pages whether the newest rows answer it or the index does."""

from __future__ import annotations

import time

import pytest

from tests.support.lifecycles import Life, emit
from voicepipe.db import job_lists
from voicepipe.domain.job_info import JobFilters
from voicepipe.domain.jobs import JobStatus
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources

T0 = time.time() - 3600


@pytest.mark.parametrize("probe_rows", [1000, 7, 1])
async def test_search_pages_are_the_same_by_probe_or_index(
    resources: Resources, probe_rows: int
) -> None:
    lives = []
    for i in range(40):
        life = (
            Life(f"job{i:02d}", task="a" if i % 2 else "b")
            .queued(T0 + i)
            .add("started", T0 + i + 0.5)
        )
        error = "disk on fire" if i % 3 == 0 else "net down" if i % 5 == 0 else None
        lives.append(
            life.add("failure", T0 + i + 1, error=error)
            if error
            else life.add("success", T0 + i + 1)
        )
    await emit(resources.redis, [e for life in lives for e in life.events])
    await Recorder(resources, "test").flush()
    expected = [f"job{i:02d}" for i in reversed(range(40)) if i % 3 == 0 and i % 2]
    filters = JobFilters(search="ON FIRE", task_name="a", statuses=[JobStatus.FAILURE])
    pages, after = [], None
    while True:
        rows = await job_lists.list_jobs(resources.db, filters, 3, after, probe_rows=probe_rows)
        pages += [r.task_id for r in rows]
        if len(rows) < 3:
            break
        after = (rows[-1].created_at, rows[-1].task_id)
    assert pages == expected
    rare = await job_lists.list_jobs(
        resources.db, JobFilters(search="job07"), 5, None, probe_rows=probe_rows
    )
    assert [r.task_id for r in rare] == ["job07"]
    none = await job_lists.list_jobs(
        resources.db, JobFilters(search="100%_"), 5, None, probe_rows=probe_rows
    )
    assert none == []  # % and _ are literal characters, not wildcards
