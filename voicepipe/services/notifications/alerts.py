"""Alerts to the admins when the job system is unwell: a task failing, a queue backed up, a queue
with work and no worker, the recorder falling behind.

Every VOICEPIPE_ALERT_EVALUATE_S one process in the cluster (the first to take that round's Redis key)
reads every rule's figures and moves each alert's state (domain.alerts.step): a notice when it
fires, again at most every VOICEPIPE_ALERT_REPEAT_S while it keeps firing, and a "resolved" one
when it clears. The state lives in PostgreSQL (alert_states), beside the history and the
notifications it produces, so it survives restarts and a flushed Redis, and whichever process
evaluates next sees it. A notice is sent before its state is saved, under a dedupe key of its
episode and number: a round cut short (a crash, PostgreSQL lost) is evaluated again without
notifying twice.

`run_alerts` runs in every web and worker process (rule 3 must work while no worker is alive).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from voicepipe import keys
from voicepipe.db import alerts as alerts_db
from voicepipe.domain.alerts import (
    AlertState,
    Notice,
    Reading,
    RuleName,
    Thresholds,
    cleared,
    step,
)
from voicepipe.engine.outage import Backoff
from voicepipe.resources import Resources
from voicepipe.services.notifications import alerts_readings as readings
from voicepipe.services.notifications.send import send_notification
from voicepipe.settings import Settings

log = logging.getLogger(__name__)

EVALUATE_EVERY_S = 15.0  # the default of VOICEPIPE_ALERT_EVALUATE_S

Reader = Callable[[Resources, datetime, Thresholds], Awaitable[list[Reading]]]
# each reader and the rules whose readings it returns
READERS: tuple[tuple[Reader, tuple[RuleName, ...]], ...] = (
    (readings.failure_rates, ("failure_rate",)),
    (readings.queues_and_workers, ("queue_age", "no_worker")),
    (readings.recorder, ("recorder_lag",)),
)


def thresholds_from(settings: Settings) -> Thresholds:
    return Thresholds(
        failure_rate=settings.alert_failure_rate,
        failure_min_jobs=settings.alert_failure_min_jobs,
        queue_age_s=settings.alert_queue_age_s,
        recorder_lag_s=settings.alert_recorder_lag_s,
        repeat_s=settings.alert_repeat_s,
        # a worker restarting (recycled, upgraded) leaves a gap that is no emergency
        for_s={"no_worker": settings.alert_no_worker_for_s},
    )


async def evaluate(
    resources: Resources, now: datetime, round_s: float = EVALUATE_EVERY_S
) -> list[Notice]:
    """Evaluate every rule as of `now`, unless another process took this round already; returns
    the notices sent (each to every admin, as their preferences allow)."""
    if not await _take_round(resources, now, round_s):
        return []
    thresholds = thresholds_from(resources.settings)
    found, read = await _read_all(resources, now, thresholds)
    known = {
        s.key: s
        for s in await alerts_db.states(resources.db, [(r.key, r.rule, r.subject) for r in found])
    }
    # an alert whose subject is gone from the figures (a task with no jobs in the window) is clear
    shown = {r.key for r in found}
    found += [
        cleared(s.rule, s.subject, thresholds)
        for s in known.values()
        if s.status != "ok" and s.rule in read and s.key not in shown
    ]
    changed: list[AlertState] = []
    sent: list[Notice] = []
    for reading in found:
        state = known.get(reading.key)
        if state is None or (state.evaluated_at is not None and state.evaluated_at > now):
            continue  # a later round has judged it already (an evaluation that ran long)
        new_state, notice = step(state, reading, now, thresholds)
        if notice is not None:
            await _send(resources, notice)
            sent.append(notice)
        changed.append(new_state)
    await alerts_db.save(resources.db, changed)
    return sent


async def current_alerts(resources: Resources) -> list[AlertState]:
    """Every alert's last known state (firing, pending or ok), by key."""
    return await alerts_db.known_states(resources.db)


async def run_alerts(
    resources: Resources, stop: asyncio.Event, every_s: float | None = None
) -> None:
    """Evaluate the rules every `every_s` (VOICEPIPE_ALERT_EVALUATE_S; 0: not in this process)
    until `stop` is set. Every web and worker process runs it: each round, the first process to
    wake evaluates and the others skip."""
    every_s = resources.settings.alert_evaluate_s if every_s is None else every_s
    if every_s <= 0:
        return
    trouble = Backoff("alerts", logger=log)
    while not stop.is_set():
        try:
            await evaluate(resources, datetime.now(UTC), every_s)
            trouble.succeeded()
        except Exception as exc:  # Redis or PostgreSQL away: the next round tries again
            trouble.failed(exc)
        # wake just after the next round starts, a little apart from the other processes
        wait_s = every_s - time.time() % every_s + random.uniform(0, every_s / 20)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)


async def _take_round(resources: Resources, now: datetime, round_s: float) -> bool:
    round_ms = int(now.timestamp() // round_s * round_s * 1000)
    taken = await resources.redis.set(
        keys.alert_round(round_ms), _PROCESS, nx=True, px=int(round_s * 2000)
    )
    return bool(taken)


_PROCESS = f"{socket.gethostname()}:{os.getpid()}"  # who evaluated a round, for someone looking


async def _read_all(
    resources: Resources, now: datetime, thresholds: Thresholds
) -> tuple[list[Reading], set[RuleName]]:
    """Every rule's readings, and which rules were read; a rule that cannot be read now keeps
    its alerts as they are (neither fired nor resolved by a failed read)."""
    results = await asyncio.gather(
        *(reader(resources, now, thresholds) for reader, _ in READERS), return_exceptions=True
    )
    found: list[Reading] = []
    read: set[RuleName] = set()
    for (_, rules), result in zip(READERS, results, strict=True):
        if isinstance(result, Exception):
            log.warning("alerts: could not read %s: %r", ", ".join(rules), result)
            continue
        if isinstance(result, BaseException):
            raise result
        found += result
        read |= set(rules)
    return found, read


async def _send(resources: Resources, notice: Notice) -> None:
    if notice.kind == "firing":
        log.warning("alert %s firing: %s", notice.key, notice.message)
    else:
        log.info("alert %s resolved: %s", notice.key, notice.message)
    await send_notification(
        resources, notice.title, notice.message, notice.level, recipient_type="admin",
        data=notice.data, dedupe_key=notice.dedupe_key,
    )  # fmt: skip
