"""Which errors mean "Redis cannot serve now", and how a loop waits them out: one line, not one per try."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    DataError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from voicepipe.engine.outage import Backoff, persist, redis_unavailable

OOM_TEXT = "command not allowed when used memory > 'maxmemory'."


def _in_pipeline(reply: str) -> ResponseError:
    """The error as redis-py's asyncio pipeline raises it: the command, then the reply's args."""
    return ResponseError(f"Command # 1 (HGETALL voicepipe:running:default) of pipeline caused "
                         f"error: {(reply,)}")  # fmt: skip


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (OutOfMemoryError(OOM_TEXT), "out of memory"),
        (OutOfMemoryError(f"{OOM_TEXT} script: on @user_script:26."), "out of memory"),
        (ReadOnlyError("You can't write against a read only replica."), "read-only replica"),
        (BusyLoadingError("Valkey is loading the dataset in memory"), "loading"),
        (ResponseError("BUSY Valkey is busy running a script. You can only call SCRIPT KILL"),
         "busy running a long script"),
        (_in_pipeline("BUSY Valkey is busy running a script."), "busy running a long script"),
        (ResponseError("Command # 2 (SET k v) of pipeline caused error: MISCONF Errors writing"),
         "cannot save to disk"),
        (ResponseError("MISCONF Errors writing to the AOF file"), "cannot save to disk"),
        (ResponseError("MASTERDOWN Link with MASTER is down"), "lost its primary"),
        (ResponseError("NOREPLICAS Not enough good replicas to write."), "too few replicas"),
        (ResponseError("UNBLOCKED force unblock from blocking operation"), "changed its role"),
        (RedisConnectionError("Error 111 connecting to 127.0.0.1:6379"), "unreachable"),
        (RedisTimeoutError("Timeout reading from socket"), "unreachable"),
        (AuthenticationError("invalid password"), "unreachable"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection failed"),
    ],
)  # fmt: skip
def test_redis_there_but_refusing_or_away_is_unavailable(error: Exception, words: str) -> None:
    reason = redis_unavailable(error)
    assert reason is not None and words in reason


@pytest.mark.parametrize(
    "error",
    [
        ResponseError("BUSYGROUP Consumer Group name already exists"),
        ResponseError("NOGROUP No such key 'voicepipe:events' or consumer group"),
        ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ResponseError("ERR Error running script: attempt to compare nil with number"),
        _in_pipeline("WRONGTYPE Operation against a key holding the wrong kind of value"),
        NoScriptError("No matching script."),
        DataError("Invalid input of type: 'dict'"),
        ValueError("a bug"),
        KeyError("f"),
    ],
)
def test_errors_that_would_fail_again_are_not(error: Exception) -> None:
    assert redis_unavailable(error) is None


def test_a_backoff_warns_once_per_trouble_and_says_when_it_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    trouble = Backoff("queue default: claiming", min_s=0.05, max_s=0.3)
    waits = [trouble.failed(OutOfMemoryError(OOM_TEXT)) for _ in range(6)]
    assert waits == [0.05, 0.1, 0.2, 0.3, 0.3, 0.3]  # doubling, capped
    trouble.failed(ReadOnlyError("You can't write against a read only replica."))  # a new cause
    trouble.succeeded()
    trouble.succeeded()  # nothing to report twice
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "WARNING", "INFO"]
    assert lines[0][1].startswith("queue default: claiming: Redis is out of memory")
    assert "read-only replica" in lines[1][1]
    assert lines[2][1].startswith("queue default: claiming: working again after")
    assert "(7 failed tries)" in lines[2][1]
    assert trouble.failed(OutOfMemoryError(OOM_TEXT)) == 0.05  # waits start short again


async def test_persist_waits_out_refusals_then_returns_what_the_attempt_returned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    replies: list[Exception | str] = [OutOfMemoryError(OOM_TEXT)] * 3 + ["written"]

    async def attempt() -> str:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    assert await persist("finishing jobs", attempt) == "written"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "out of memory" in messages[0] and "working again" in messages[1]


async def test_persist_passes_other_errors_through_at_once() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await persist("finishing jobs", attempt)
    assert calls == 1
