"""Alert rules without I/O: when a reading fires, how an alert's state moves, what admins are told.

An alert is one rule watching one thing (a task, a queue, the recorder), keyed `rule:subject`.
Its state moves as Grafana's and Prometheus' alerts do:

    ok ──condition holds──▶ pending ──held for `for_s`──▶ firing ──condition clears──▶ ok
     ▲                         │ (for_s 0: straight to firing)   │ notice "firing", repeated
     └────condition clears─────┘ (silently: nothing fired)       │ at most every repeat_s;
                                                                 ▼ notice "resolved"
Each firing episode is numbered; a notice's dedupe key names the alert, its state row, its
episode and its notice number, so evaluating the same state twice (two processes, a retry after a
crash) notifies once, while a new episode or a repeat notifies again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from voicepipe.domain.notifications import Level

RuleName = Literal["failure_rate", "queue_age", "no_worker", "recorder_lag"]
RULES: tuple[RuleName, ...] = ("failure_rate", "queue_age", "no_worker", "recorder_lag")
AlertStatus = Literal["ok", "pending", "firing"]
NoticeKind = Literal["firing", "resolved"]
FAILURE_WINDOW_S = 15 * 60  # the failure rate is over the jobs finished this long before now


@dataclass(frozen=True)
class Thresholds:
    """The settings' alert thresholds, and how long each rule's condition must hold (pending)
    before it fires."""

    failure_rate: float
    failure_min_jobs: int
    queue_age_s: float
    recorder_lag_s: float
    repeat_s: float
    for_s: dict[RuleName, float] = field(default_factory=dict)

    def pending_s(self, rule: RuleName) -> float:
        return self.for_s.get(rule, 0.0)


@dataclass(frozen=True)
class Reading:
    """One alert's figures in one round, whether its condition holds, and the figures in words."""

    rule: RuleName
    subject: str | None  # the task or queue watched; None for the recorder
    firing: bool
    title: str  # what is wrong, as the firing notice's title
    text: str
    figures: dict[str, Any]

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.subject)


def alert_key(rule: RuleName, subject: str | None) -> str:
    return rule if subject is None else f"{rule}:{subject}"


@dataclass(frozen=True)
class AlertState:
    """What every process knows of one alert (kept in PostgreSQL, table alert_states)."""

    key: str
    rule: RuleName
    subject: str | None
    generation: int = 0  # when its state row was created (ms): episodes are numbered per row
    status: AlertStatus = "ok"
    since: datetime | None = None  # when it took its status (None: never left ok)
    last_notified_at: datetime | None = None
    episode: int = 0  # firing episodes so far, the current one included
    notices: int = 0  # firing notices sent in the current episode
    figures: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    evaluated_at: datetime | None = None


@dataclass(frozen=True)
class Notice:
    """A notification to send to the admins."""

    key: str
    kind: NoticeKind
    level: Level
    title: str
    message: str
    data: dict[str, Any]
    dedupe_key: str


def step(
    state: AlertState, reading: Reading, now: datetime, thresholds: Thresholds
) -> tuple[AlertState, Notice | None]:
    """The alert's state after this round's reading, and the notice to send, if any."""
    seen = replace(state, figures=reading.figures, text=reading.text, evaluated_at=now)
    if not reading.firing:
        if state.status == "ok":
            return seen, None
        # pending clears silently: nothing was told
        notice = _notice(state, reading, now, "resolved") if state.status == "firing" else None
        return replace(seen, status="ok", since=now), notice
    if state.status == "ok":
        if thresholds.pending_s(reading.rule) > 0:
            return replace(seen, status="pending", since=now), None
        return _fire(seen, reading, now)
    if state.status == "pending":
        assert state.since is not None
        if _elapsed_s(state.since, now) >= thresholds.pending_s(reading.rule):
            return _fire(seen, reading, now)
        return seen, None
    last = state.last_notified_at
    if last is not None and _elapsed_s(last, now) < thresholds.repeat_s:
        return seen, None
    repeated = replace(seen, notices=state.notices + 1, last_notified_at=now)
    return repeated, _notice(repeated, reading, now, "firing")


def _fire(seen: AlertState, reading: Reading, now: datetime) -> tuple[AlertState, Notice]:
    fired = replace(
        seen, status="firing", since=now, episode=seen.episode + 1, notices=1, last_notified_at=now
    )
    return fired, _notice(fired, reading, now, "firing")


def _notice(state: AlertState, reading: Reading, now: datetime, kind: NoticeKind) -> Notice:
    """`state`: the alert while firing (the episode the notice belongs to)."""
    assert state.since is not None
    firing_for = human_duration(_elapsed_s(state.since, now))
    if kind == "resolved":
        title, level = f"Resolved: {reading.title}", _RESOLVED_LEVEL
        message = f"Resolved after {firing_for}. {reading.text}"
        number = "resolved"
    else:
        title, level = reading.title, _FIRING_LEVEL[reading.rule]
        message = (
            reading.text
            if state.notices == 1
            else f"Still firing after {firing_for}. {reading.text}"
        )
        number = str(state.notices)
    data = {
        "alert": reading.rule, "key": state.key, "state": kind, "since": state.since.isoformat(),
        "episode": state.episode, **reading.figures,
    }  # fmt: skip
    dedupe_key = f"alert:{state.key}:{state.generation}:{state.episode}:{number}"
    return Notice(state.key, kind, level, title, message, data, dedupe_key)


_FIRING_LEVEL: dict[RuleName, Level] = {
    "failure_rate": "error",
    "queue_age": "error",
    "no_worker": "critical",  # nothing runs at all: every channel, and it cannot be muted
    "recorder_lag": "error",
}
_RESOLVED_LEVEL: Level = "success"


def _elapsed_s(since: datetime, now: datetime) -> float:
    return (now - since).total_seconds()


# -- the rules: figures in, a reading out -------------------------------------------------------


def failure_rate(task: str, failed: int, finished: int, thresholds: Thresholds) -> Reading:
    """A task's jobs finished (success or failure) in the last FAILURE_WINDOW_S, and how many of
    them failed; too few finished jobs never fire."""
    rate = failed / finished if finished else 0.0
    enough = finished >= thresholds.failure_min_jobs
    text = (
        f"Task {task}: {failed} of {_jobs(finished)} failed in the last "
        f"{human_duration(FAILURE_WINDOW_S)} ({round(rate * 100)} %, threshold "
        f"{_percent(thresholds.failure_rate)} %)"
    )
    if finished == 0:
        text = f"Task {task}: no job finished in the last {human_duration(FAILURE_WINDOW_S)}"
    elif not enough:
        text += f"; too few to judge (it takes {thresholds.failure_min_jobs})"
    return Reading(
        "failure_rate", task, enough and rate >= thresholds.failure_rate,
        f"Task {task} is failing", text,
        {"task": task, "failed": failed, "finished": finished, "failure_rate": round(rate, 4),
         "threshold": thresholds.failure_rate, "min_jobs": thresholds.failure_min_jobs,
         "window_s": FAILURE_WINDOW_S},
    )  # fmt: skip


def queue_age(
    queue: str, oldest_wait_s: float | None, waiting: int, thresholds: Thresholds
) -> Reading:
    """How long a queue's oldest waiting job (ready, or past its due time) has waited."""
    threshold_s = thresholds.queue_age_s
    if oldest_wait_s is None or waiting == 0:
        text, wait_s = f"Queue {queue}: no job is waiting", 0.0
    else:
        wait_s = max(oldest_wait_s, 0.0)
        text = (
            f"Queue {queue}: the oldest job has waited {human_duration(wait_s)} "
            f"(threshold {human_duration(threshold_s)})"
        )
        if waiting > 1:
            text += f"; {waiting} jobs are waiting"
    return Reading(
        "queue_age", queue, waiting > 0 and wait_s >= threshold_s, f"Queue {queue} is backed up",
        text,
        {"queue": queue, "oldest_wait_s": round(wait_s, 1), "waiting": waiting,
         "threshold_s": threshold_s},
    )  # fmt: skip


def no_worker(queue: str, workers: int, waiting: int) -> Reading:
    """Whether any live worker serves a queue that has work (waiting jobs, or jobs left running
    by a lost worker that wait to run again)."""
    if workers == 0 and waiting > 0:
        text = f"No worker is serving queue {queue}, which has {_jobs(waiting)} waiting"
    elif workers == 0:
        text = f"No worker is serving queue {queue}, and it has no jobs waiting"
    else:
        served = f"{workers} worker{'s' if workers != 1 else ''}"
        text = f"Queue {queue} is served by {served} ({_jobs(waiting)} waiting)"
    return Reading(
        "no_worker", queue, workers == 0 and waiting > 0, f"No worker for queue {queue}", text,
        {"queue": queue, "workers": workers, "waiting": waiting},
    )  # fmt: skip


def recorder_lag(lag_s: float | None, unrecorded: int, thresholds: Thresholds) -> Reading:
    """How old the oldest job event not yet recorded in PostgreSQL is."""
    threshold_s = thresholds.recorder_lag_s
    lag = max(lag_s or 0.0, 0.0) if unrecorded else 0.0
    if unrecorded == 0:
        text = "The recorder is up to date: every job event is recorded"
    else:
        text = (
            f"The recorder is {human_duration(lag)} behind (threshold "
            f"{human_duration(threshold_s)}); {unrecorded} job event"
            f"{'s are' if unrecorded != 1 else ' is'} not recorded yet"
        )
    return Reading(
        "recorder_lag", None, unrecorded > 0 and lag >= threshold_s,
        "Job history is falling behind", text,
        {"lag_s": round(lag, 1), "unrecorded": unrecorded, "threshold_s": threshold_s},
    )  # fmt: skip


def cleared(rule: RuleName, subject: str | None, thresholds: Thresholds) -> Reading:
    """The reading of an alert whose subject shows in no figures any more (a task with no job
    finished in the window, a queue no longer configured): its condition does not hold."""
    name = subject or "?"
    if rule == "failure_rate":
        return failure_rate(name, 0, 0, thresholds)
    if rule == "queue_age":
        return queue_age(name, None, 0, thresholds)
    if rule == "no_worker":
        return no_worker(name, 0, 0)
    return recorder_lag(None, 0, thresholds)


def human_duration(seconds: float) -> str:
    """Seconds as a person says them, rounded down: 45 s, 14 min, 2 h 5 min, 3 days."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    hours, minutes = divmod(s // 60, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def _percent(share: float) -> str:
    return f"{share * 100:.3g}"


def _jobs(n: int) -> str:
    return f"{n} job{'s' if n != 1 else ''}"
