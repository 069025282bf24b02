"""Folding lifecycle events into one change per job: any order of a batch gives the same change."""

from __future__ import annotations

import random
from typing import Any

import pytest

from voicepipe.domain.job_fold import (
    EVENTS_PER_ENTRY,
    JobDelta,
    StreamId,
    event_position,
    fold,
    is_event,
    parse_stream_id,
    state_after,
)
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.events import make_event

T0 = 1_700_000_000.0


def ev(
    kind: Any, job: str = "j1", try_number: int = 1, at: float = T0, **extra: Any
) -> dict[str, Any]:
    return make_event(
        kind, job_id=job, task="work", queue="default", try_number=try_number, priority=2,
        worker="w1", at=at, **extra,
    )  # fmt: skip


def life_of_a_retried_job() -> list[tuple[StreamId, dict[str, Any]]]:
    events = [
        ev("queued", args={"n": 1}, max_retries=3, eta=None, owner_id=7, metadata={"m": 1}),
        ev("started", at=T0 + 1),
        ev("progress", at=T0 + 2, progress={"current": 1, "total": 4, "info": {}}),
        ev("retry", at=T0 + 3, error="boom", traceback="tb", eta=T0 + 10),
        ev("started", try_number=2, at=T0 + 10.5),
        ev("progress", try_number=2, at=T0 + 11, progress={"current": 4, "total": 4, "info": {}}),
        ev("success", try_number=2, at=T0 + 12, result={"ok": True}, runtime_s=1.5),
    ]
    return [((int(T0 * 1000) + i, 0), e) for i, e in enumerate(events)]


def test_a_retried_job_folds_to_its_final_state() -> None:
    (delta,) = fold(life_of_a_retried_job())
    assert delta.state is not None
    assert delta.state.status == JobStatus.SUCCESS
    assert delta.state.retry_count == 1
    assert delta.state.result == {"ok": True}
    assert delta.state.error is None  # the error belonged to the first try
    assert delta.state.completed_at_s == T0 + 12
    assert (delta.started_try, delta.started_at_s) == (2, T0 + 10.5)
    assert delta.created_at_s == T0
    assert delta.scheduled_for_s == T0 + 10
    assert delta.progress == {"current": 4, "total": 4, "info": {}}
    assert delta.queued is not None and delta.queued["owner_id"] == 7
    assert delta.priority == 2 and delta.event_count == 7


@pytest.mark.parametrize("seed", range(20))
def test_the_order_within_a_batch_does_not_matter(seed: int) -> None:
    entries = life_of_a_retried_job()
    shuffled = entries[:]
    random.Random(seed).shuffle(shuffled)
    assert fold(shuffled) == fold(entries)


def test_jobs_of_a_batch_get_one_delta_each() -> None:
    entries = [((1, i), ev("queued", job=f"j{i % 3}", at=T0 + i)) for i in range(9)]
    deltas = fold(entries)
    assert [d.job_id for d in deltas] == ["j0", "j1", "j2"]
    assert [d.created_at_s for d in deltas] == [T0, T0 + 1, T0 + 2]


def test_started_at_is_the_first_start_of_the_highest_try() -> None:
    delta = JobDelta(job_id="j1", task="work", queue="default", priority=1, created_at_s=T0)
    delta.apply((5, 0), ev("started", try_number=2, at=T0 + 50))  # handed back, started again
    delta.apply((3, 0), ev("started", try_number=2, at=T0 + 30))
    delta.apply((1, 0), ev("started", try_number=1, at=T0 + 10))
    assert (delta.started_try, delta.started_at_s) == (2, T0 + 30)
    assert delta.state is not None and delta.state.retry_count == 1


def test_a_started_event_without_its_queued_event_still_makes_a_delta() -> None:
    (delta,) = fold([((9, 0), ev("started", at=T0 + 5))])
    assert delta.queued is None
    assert delta.state is not None and delta.state.status == JobStatus.STARTED
    assert delta.task == "work" and delta.queue == "default" and delta.created_at_s == T0 + 5


def test_progress_alone_sets_no_status() -> None:
    (delta,) = fold([((9, 0), ev("progress", progress={"current": 1, "total": 2, "info": {}}))])
    assert delta.state is None and delta.state_id is None
    assert delta.progress_id == (9, 0)


@pytest.mark.parametrize(
    ("event", "status", "retry_count"),
    [
        (ev("queued", eta=None), JobStatus.PENDING, 0),
        (ev("queued", eta=T0 - 1), JobStatus.PENDING, 0),  # due already: ready at once
        (ev("queued", eta=T0 + 60), JobStatus.SCHEDULED, 0),
        (ev("started", try_number=3), JobStatus.STARTED, 2),
        (ev("retry", try_number=2, error="e", eta=T0 + 5), JobStatus.RETRY, 2),
        (ev("failure", try_number=4, error="e", traceback="tb"), JobStatus.FAILURE, 3),
        (ev("cancelled", reason="admin"), JobStatus.CANCELLED, 0),
    ],
)
def test_each_event_maps_to_a_status(
    event: dict[str, Any], status: JobStatus, retry_count: int
) -> None:
    state = state_after(event)
    assert (state.status, state.retry_count) == (status, retry_count)
    terminal = status in (JobStatus.FAILURE, JobStatus.CANCELLED)
    assert (state.completed_at_s is not None) == terminal


def test_a_cancelled_job_says_why_in_its_error() -> None:
    assert state_after(ev("cancelled", reason="cancelled by admin")).error == "cancelled by admin"


def test_low_priority_is_kept() -> None:
    event = make_event("queued", job_id="j", task="t", queue="q", try_number=1, priority=0, at=T0)
    (delta,) = fold([((1, 0), event)])
    assert delta.priority == 0


def test_stream_ids_parse_to_ordered_pairs() -> None:
    assert parse_stream_id(b"1700000000000-12") == (1_700_000_000_000, 12)
    assert parse_stream_id("5") == (5, 0)
    assert parse_stream_id("10-1") > parse_stream_id("9-99")


def test_events_of_one_entry_sit_between_it_and_the_next() -> None:
    entry, following = parse_stream_id("10-1"), parse_stream_id("10-2")
    positions = [event_position(entry, i) for i in range(EVENTS_PER_ENTRY)]
    assert positions == sorted(positions) and len(set(positions)) == EVENTS_PER_ENTRY
    assert event_position(parse_stream_id("10-0"), EVENTS_PER_ENTRY - 1) < positions[0]
    assert positions[-1] < event_position(following, 0)
    with pytest.raises(ValueError, match="at most 1024 events"):
        event_position(entry, EVENTS_PER_ENTRY)


@pytest.mark.parametrize(
    "value",
    [None, [], {"event": "queued"}, {**ev("queued"), "job_id": 5}, {**ev("queued"), "at": "x"}],
)
def test_malformed_events_are_recognised(value: Any) -> None:
    assert not is_event(value)
    assert is_event(ev("queued"))


def test_a_stale_outcome_changes_neither_status_nor_result() -> None:
    """A stalled worker's late success of try 1, written after try 2 started elsewhere."""
    events = [
        ev("queued", args={}, max_retries=3, eta=None),
        ev("started", at=T0 + 1),
        ev("retry", at=T0 + 5, error="WorkerLost: gone", eta=T0 + 5, orphaned=True),
        ev("started", try_number=2, at=T0 + 6) | {"worker": "w2"},
        ev("stale", at=T0 + 7, outcome="success"),
    ]
    (delta,) = fold([((1, i), e) for i, e in enumerate(events)])
    state = delta.state
    assert state is not None and state.status == JobStatus.STARTED
    assert (state.retry_count, state.worker, state.result) == (1, "w2", None)
    assert delta.event_count == 5
