"""The worker's end of the control channel: stop jobs, restart, switch live events, as admins ask."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from voicepipe import keys
from voicepipe.engine.outage import Backoff, redis_unavailable
from voicepipe.resources import Resources
from voicepipe.worker.executor import Executor

log = logging.getLogger(__name__)

RECONNECT_DELAY_S = 0.5
RECONNECT_MAX_S = 4.0  # while reconnecting fails, the wait doubles up to this
ACK_EXPIRY_S = 60


class ControlListener:
    """Follows the control channel until cancelled; reconnects when Redis goes away."""

    def __init__(
        self,
        resources: Resources,
        worker_id: str,
        executor: Executor,
        set_live: Callable[[bool], None],
        restart: Callable[[], None],
    ) -> None:
        self.resources = resources
        self.worker_id = worker_id
        self.executor = executor
        self.set_live = set_live
        self.restart = restart
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        trouble = Backoff("control channel", RECONNECT_DELAY_S, RECONNECT_MAX_S, log)
        while True:
            pubsub = self.resources.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.CONTROL)
                self.subscribed.set()
                # Whatever was asked while we were not listening is in Redis: catch up first.
                await self.catch_up()
                trouble.succeeded()
                async for message in pubsub.listen():
                    await self._receive(message["data"])
            except (RedisError, OSError) as exc:
                await asyncio.sleep(trouble.failed(exc))
            finally:
                self.subscribed.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _receive(self, data: bytes) -> None:
        try:
            command = json.loads(data)
        except ValueError:
            command = None
        if not isinstance(command, dict):
            log.warning("ignoring a control message that is not a JSON object: %r", data[:200])
            return
        await self.handle(command)

    async def handle(self, command: dict[str, Any]) -> None:
        kind = command.get("command")
        if kind == "stop":
            self.executor.stop_job(str(command["job_id"]), str(command["how"]))
        elif kind == "events":
            self.set_live(bool(command["enabled"]))
            log.info("live events %s", "enabled" if command["enabled"] else "disabled")
        elif kind == "restart":
            try:
                await self._acknowledge(str(command["request_id"]))
            except RedisError as exc:  # out of memory, say: restart all the same
                if redis_unavailable(exc) is None:
                    raise
                log.warning("restart not acknowledged: %s (%s)", redis_unavailable(exc), exc)
            log.info("restart requested by an admin")
            self.restart()
        else:
            log.warning("ignoring unknown control command %r", command)

    async def _acknowledge(self, request_id: str) -> None:
        ack_key = keys.control_acks(request_id)
        async with self.resources.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(ack_key, self.worker_id)
            pipe.expire(ack_key, ACK_EXPIRY_S)
            await pipe.execute()

    async def catch_up(self) -> None:
        """Apply what Redis holds: the events switch and stop requests for jobs running here."""
        redis = self.resources.redis
        self.set_live(await redis.get(keys.EVENTS_ENABLED) != b"0")
        job_ids = list(self.executor.running)
        if not job_ids:
            return
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.STOP_REQUESTS, job_ids)
            (requests,) = await pipe.execute()
        for job_id, how in zip(job_ids, requests, strict=True):
            if how is not None:
                self.executor.stop_job(job_id, how.decode())
