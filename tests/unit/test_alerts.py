"""Alert rules without I/O: which readings fire, how an alert's state moves, what admins read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from voicepipe.domain.alerts import (
    RULES,
    AlertState,
    Reading,
    Thresholds,
    cleared,
    failure_rate,
    human_duration,
    no_worker,
    queue_age,
    recorder_lag,
    step,
)
from voicepipe.services.notifications.alerts_readings import QueueWork, queue_readings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LIMITS = Thresholds(
    failure_rate=0.5, failure_min_jobs=10, queue_age_s=600, recorder_lag_s=120, repeat_s=3600,
    for_s={"no_worker": 30},
)  # fmt: skip


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def backed_up(firing: bool = True) -> Reading:
    return queue_age("audio_processing", 840 if firing else 3, 1, LIMITS)


def fresh(reading: Reading) -> AlertState:
    return AlertState(key=reading.key, rule=reading.rule, subject=reading.subject, generation=77)


def test_the_messages_say_what_is_wrong_in_words() -> None:
    assert failure_rate("process_audio_recording", 7, 12, LIMITS).text == (
        "Task process_audio_recording: 7 of 12 jobs failed in the last 15 min "
        "(58 %, threshold 50 %)"
    )
    assert backed_up().text == (
        "Queue audio_processing: the oldest job has waited 14 min (threshold 10 min)"
    )
    assert no_worker("consensus", 0, 40).text == (
        "No worker is serving queue consensus, which has 40 jobs waiting"
    )
    assert recorder_lag(180, 5, LIMITS).text == (
        "The recorder is 3 min behind (threshold 2 min); 5 job events are not recorded yet"
    )
    assert queue_age("consensus", 30, 4, LIMITS).text.endswith("; 4 jobs are waiting")
    assert queue_age("consensus", None, 0, LIMITS).text == "Queue consensus: no job is waiting"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (840, "14 min"), (3600, "1 h"),
     (3900, "1 h 5 min"), (49 * 3600, "2 days"), (-5, "0 s")],
)  # fmt: skip
def test_durations_read_as_a_person_says_them(seconds: float, said: str) -> None:
    assert human_duration(seconds) == said


def test_each_rule_fires_at_its_threshold_and_not_below() -> None:
    assert failure_rate("t", 5, 10, LIMITS).firing  # 50 % of 10: at the threshold
    assert not failure_rate("t", 4, 10, LIMITS).firing
    assert queue_age("q", 600, 1, LIMITS).firing and not queue_age("q", 599, 1, LIMITS).firing
    assert not queue_age("q", 9999, 0, LIMITS).firing  # nothing waits: a stale figure is no age
    assert no_worker("q", 0, 1).firing
    assert not no_worker("q", 1, 500).firing and not no_worker("q", 0, 0).firing
    assert recorder_lag(120, 1, LIMITS).firing and not recorder_lag(119, 1, LIMITS).firing
    assert not recorder_lag(500, 0, LIMITS).firing


def test_a_task_with_too_few_finished_jobs_never_fires() -> None:
    reading = failure_rate("t", 9, 9, LIMITS)  # every job failed, but only 9 of the 10 needed
    assert not reading.firing and "too few to judge (it takes 10)" in reading.text
    assert failure_rate("t", 10, 10, LIMITS).firing


def test_an_alert_fires_once_repeats_after_the_repeat_time_and_resolves() -> None:
    state, notice = step(fresh(backed_up()), backed_up(), at(0), LIMITS)
    assert notice is not None and (notice.kind, notice.level) == ("firing", "error")
    assert notice.title == "Queue audio_processing is backed up"
    assert notice.message == backed_up().text
    assert notice.data["alert"] == "queue_age" and notice.data["state"] == "firing"
    assert notice.data["queue"] == "audio_processing" and notice.data["oldest_wait_s"] == 840
    assert (state.status, state.since, state.episode, state.notices) == ("firing", at(0), 1, 1)

    state, again = step(state, backed_up(), at(15), LIMITS)
    assert again is None and state.status == "firing"
    state, again = step(state, backed_up(), at(3599), LIMITS)
    assert again is None

    state, repeat = step(state, backed_up(), at(3600), LIMITS)
    assert repeat is not None and repeat.kind == "firing"
    assert repeat.message.startswith("Still firing after 1 h. Queue audio_processing:")
    assert repeat.dedupe_key != notice.dedupe_key and state.notices == 2

    state, resolved = step(state, backed_up(firing=False), at(4500), LIMITS)
    assert resolved is not None and (resolved.kind, resolved.level) == ("resolved", "success")
    assert resolved.title == "Resolved: Queue audio_processing is backed up"
    assert resolved.message == (
        "Resolved after 1 h 15 min. Queue audio_processing: the oldest job has waited 3 s "
        "(threshold 10 min)"
    )
    assert resolved.data["state"] == "resolved" and state.status == "ok"
    state, nothing = step(state, backed_up(firing=False), at(4515), LIMITS)
    assert nothing is None


def test_a_new_episode_notifies_again_under_a_new_dedupe_key() -> None:
    state, first = step(fresh(backed_up()), backed_up(), at(0), LIMITS)
    state, resolved = step(state, backed_up(firing=False), at(60), LIMITS)
    state, second = step(state, backed_up(), at(75), LIMITS)
    assert first is not None and resolved is not None and second is not None
    assert len({first.dedupe_key, resolved.dedupe_key, second.dedupe_key}) == 3
    assert state.episode == 2 and second.message == first.message  # a first notice again


def test_the_same_state_and_reading_give_the_same_notice() -> None:
    """Two processes evaluating one state (or a round run again after a crash) notify once:
    their notices carry the same dedupe key."""
    state = fresh(backed_up())
    one, two = step(state, backed_up(), at(0), LIMITS), step(state, backed_up(), at(0), LIMITS)
    assert one == two and one[1] is not None
    assert one[1].dedupe_key == "alert:queue_age:audio_processing:77:1:1"


def test_no_worker_waits_out_its_pending_time_and_fires_critical() -> None:
    idle = no_worker("consensus", 0, 40)
    state, notice = step(fresh(idle), idle, at(0), LIMITS)
    assert notice is None and (state.status, state.since) == ("pending", at(0))
    state, notice = step(state, idle, at(29), LIMITS)
    assert notice is None and state.status == "pending"
    state, notice = step(state, idle, at(30), LIMITS)
    assert notice is not None and notice.level == "critical" and state.status == "firing"
    assert notice.title == "No worker for queue consensus"


def test_a_pending_alert_that_clears_says_nothing() -> None:
    idle, served = no_worker("consensus", 0, 40), no_worker("consensus", 1, 40)
    state, _ = step(fresh(idle), idle, at(0), LIMITS)
    state, notice = step(state, served, at(15), LIMITS)
    assert state.status == "ok" and notice is None
    state, notice = step(state, idle, at(20), LIMITS)
    assert state.status == "pending" and state.since == at(20)  # its pending time starts over


def test_an_alert_whose_subject_is_gone_reads_clear() -> None:
    for rule in RULES:
        reading = cleared(rule, "gone" if rule != "recorder_lag" else None, LIMITS)
        assert not reading.firing and reading.rule == rule


def test_queue_readings_count_only_workers_of_the_queue_and_stranded_jobs() -> None:
    now_ms = 1_000_000_000
    work = [
        QueueWork("consensus", ready=2, due=1, running=3, oldest_ms=now_ms - 700_000),
        QueueWork("default", ready=0, due=0, running=2, oldest_ms=None),
    ]
    workers: list[dict[str, object]] = [{"id": "w1", "queues": ["default"]}]
    by_key = {r.key: r for r in queue_readings(work, workers, now_ms, LIMITS)}
    # consensus: nobody serves it, so the jobs left running by a lost worker wait too
    assert by_key["no_worker:consensus"].figures == {
        "queue": "consensus",
        "workers": 0,
        "waiting": 6,
    }
    assert by_key["no_worker:consensus"].firing
    assert by_key["queue_age:consensus"].firing  # 700 s >= 600 s
    assert by_key["queue_age:consensus"].figures["waiting"] == 3
    assert by_key["no_worker:default"].figures["workers"] == 1
    assert not by_key["no_worker:default"].firing and not by_key["queue_age:default"].firing
