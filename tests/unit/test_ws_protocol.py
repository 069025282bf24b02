"""The feed's pure parts: client message parsing, message ids, subscriptions, the replay
cut-over and worker up/down detection."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from voicepipe.bench.ws_slow import _frame as read_frame
from voicepipe.db.users import UserRow
from voicepipe.services.notifications.live import Entry, parse_id
from voicepipe.web.ws import protocol
from voicepipe.web.ws.subscriber import Subscriber
from voicepipe.web.ws.workers import WorkerWatch


def _user(role: str = "user") -> UserRow:
    return UserRow(id=7, email="u@example.org", role=role, created_at=datetime.now(UTC))


def _subscriber(role: str = "user") -> Subscriber:
    return Subscriber(_user(role), outbox=None)  # type: ignore[arg-type]  # no socket needed


def test_client_messages_parse_or_say_what_is_wrong() -> None:
    assert protocol.parse('{"type": "auth", "token": "vp_x"}') == protocol.Auth(
        type="auth", token="vp_x"
    )
    parsed = protocol.parse('{"type": "subscribe", "topics": ["job"], "job_id": "j1"}')
    assert (
        isinstance(parsed, protocol.Subscribe)
        and parsed.topics == ["job"]
        and parsed.job_id == "j1"
    )
    for bad, says in [
        ("[1, 2", "JSON objects"),
        ('{"no": "type"}', "type must be one of"),
        ('{"type": "auth"}', "token"),
        ('{"type": "subscribe", "topics": "job"}', "topics"),
        ('{"type": "ping", "extra": 1}', "extra"),
    ]:
        with pytest.raises(protocol.ProtocolError, match=says):
            protocol.parse(bad)


def test_messages_are_json_with_a_type_and_an_id() -> None:
    ids = protocol.Ids()
    first, second = ids.next(), ids.next()
    assert first != second and first.startswith(ids.tag + ".")
    event = '{"event":"started","job_id":"j1"}'
    assert json.loads(protocol.job_message(first, event)) == {
        "type": "job", "id": first, "event": {"event": "started", "job_id": "j1"}
    }  # fmt: skip
    message = json.loads(protocol.notification_message("5-1", {"type": "notification", "id": 3}))
    assert message == {"type": "notification", "id": "5-1", "notification": {"id": 3}}


def test_stream_ids_compare_as_numbers() -> None:
    assert parse_id("10-0") > parse_id("9-5") and parse_id("9-10") > parse_id("9-9")
    for bad in ("", "9", "a-1", "1-", "-1", "1-2-3"):
        with pytest.raises(ValueError):
            parse_id(bad)


def test_subscriptions_narrow_and_admin_topics_stay_with_admins() -> None:
    user = _subscriber()
    assert user.topics == {"notification", "job"} and user.wants_job("any")
    with pytest.raises(protocol.ProtocolError, match="worker messages are for admins only"):
        user.subscribe(["worker"], None)
    user.subscribe(["job"], "j1")
    assert user.wants_job("j1") and not user.wants_job("j2") and "notification" not in user.topics
    user.subscribe(None, None)
    assert user.topics == {"notification", "job"} and user.wants_job("j2")
    admin = _subscriber("admin")
    assert "worker" in admin.topics
    admin.subscribe(["notification"], None)
    assert not admin.wants_job("j1")


def test_the_replay_cut_over_sends_each_held_notification_once() -> None:
    subscriber = _subscriber()
    subscriber.held = [Entry(f"{n}-0", 7, {}) for n in (4, 5, 6)]
    assert [e.stream_id for e in subscriber.caught_up("5-0")] == ["6-0"]
    assert subscriber.held is None
    subscriber.held = [Entry("4-0", 7, {})]
    assert [e.stream_id for e in subscriber.caught_up(None)] == ["4-0"]


def test_worker_watch_tells_beats_arrivals_and_departures() -> None:
    watch = WorkerWatch()
    a1, b1 = {"id": "a", "seen_ms": 1}, {"id": "b", "seen_ms": 1}
    assert watch.changes([a1]) == [("heartbeat", "a", a1)]  # already up before we looked
    assert watch.changes([a1, b1]) == [("up", "b", b1)]  # a did not beat again
    a2 = {"id": "a", "seen_ms": 2}
    assert watch.changes([a2]) == [("heartbeat", "a", a2), ("down", "b", None)]
    assert watch.changes([{"no": "id"}]) == [("down", "a", None)]
    watch.forget()
    assert watch.changes([a2]) == [("heartbeat", "a", a2)]


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
async def test_a_message_is_one_final_text_frame_of_its_length(size: int) -> None:
    """Each of the three length encodings of RFC 6455, read by the bench's frame reader."""
    frame = protocol.text_frame("é" * (size // 2) + "x" * (size % 2))
    reader = asyncio.StreamReader()
    reader.feed_data(frame)
    reader.feed_eof()
    opcode, payload = await read_frame(reader)
    assert frame[0] & 0x80 and opcode == 0x1  # FIN set: the whole message in one frame
    assert len(payload) == size and payload.decode().startswith("é" * (size // 2))
    assert reader.at_eof()
