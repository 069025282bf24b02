"""The hub: one Redis reader per web process, fanned out to that process's sockets.

Job events come from the `keys.LIVE` pub/sub channel (one subscription), notifications from the
notification stream (XREAD BLOCK, resuming from the last id read after any trouble), worker
heartbeats from one poll a second. Each message is encoded once, as one websocket frame, and that
same bytes object is handed to the outbox of every socket that may and wants to get it: an admin
gets every job event, a user the events of their own jobs (owners) and their own notifications.
Losing Redis is logged once, retried with capped backoff, and logged again when it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from aiohttp import web

from voicepipe import keys
from voicepipe.engine import events, heartbeats
from voicepipe.engine.outage import Backoff
from voicepipe.resources import Resources
from voicepipe.services.notifications import live
from voicepipe.web.ws import protocol
from voicepipe.web.ws.owners import Owners
from voicepipe.web.ws.subscriber import Subscriber
from voicepipe.web.ws.workers import POLL_EVERY_S, WorkerWatch

log = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 5.0  # a socket without credentials must send {"type": "auth"} within this
PING_INTERVAL_S = 20.0  # server pings; a client that does not answer in half of it is closed
NOTIFICATION_BLOCK_MS = 5_000
NOTIFICATION_BATCH = 500
START_WAIT_S = 5.0  # how long startup waits for the first subscription (Redis may be down)


@dataclass(frozen=True)
class FeedOptions:
    auth_timeout_s: float = AUTH_TIMEOUT_S
    ping_interval_s: float = PING_INTERVAL_S


class Hub:
    def __init__(self, resources: Resources, options: FeedOptions) -> None:
        self.resources = resources
        self.options = options
        self.ids = protocol.Ids()
        self.owners = Owners(resources.db, self._to_owner)
        self.subscribed = asyncio.Event()  # set while the job-event subscription stands
        self._positioned = asyncio.Event()  # the notification reader knows where it starts
        self.slow_consumers = 0  # sockets cut off for not keeping up
        self._subscribers: set[Subscriber] = set()
        self._admins: set[Subscriber] = set()
        self._by_user: dict[int, set[Subscriber]] = {}
        self._users = 0  # non-admin sockets
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sockets(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read_job_events(), name="ws-job-events"),
            asyncio.create_task(self._read_notifications(), name="ws-notifications"),
            asyncio.create_task(self._poll_workers(), name="ws-workers"),
            asyncio.create_task(self.owners.run(), name="ws-owners"),
        ]
        ready = asyncio.gather(self.subscribed.wait(), self._positioned.wait())
        with contextlib.suppress(TimeoutError):  # Redis down: start anyway, the loops retry
            await asyncio.wait_for(ready, START_WAIT_S)

    async def close_sockets(self) -> None:
        """Tell every socket the server is going away (1001), before its handler is cancelled."""
        code, reason = protocol.GOING_AWAY
        closing = [s.outbox.close(code, reason) for s in list(self._subscribers)]
        await asyncio.gather(*closing, return_exceptions=True)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.close_sockets()

    def add(self, subscriber: Subscriber) -> None:
        self._subscribers.add(subscriber)
        self._by_user.setdefault(subscriber.user.id, set()).add(subscriber)
        if subscriber.is_admin:
            self._admins.add(subscriber)
        else:
            self._users += 1

    def remove(self, subscriber: Subscriber) -> None:
        if subscriber not in self._subscribers:
            return
        self._subscribers.discard(subscriber)
        mine = self._by_user.get(subscriber.user.id, set())
        mine.discard(subscriber)
        if not mine:
            self._by_user.pop(subscriber.user.id, None)
        if subscriber.is_admin:
            self._admins.discard(subscriber)
        else:
            self._users -= 1

    def cut_off(self) -> None:
        self.slow_consumers += 1

    # job events ------------------------------------------------------------------------------

    async def _read_job_events(self) -> None:
        trouble = Backoff("live feed: job events (Redis pub/sub)", logger=log)
        while True:
            pubsub = self.resources.redis.pubsub()
            try:
                await pubsub.subscribe(keys.LIVE)
                trouble.succeeded()
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is not None and message["type"] == "message":
                        self._on_job_events(message["data"])
            except Exception as exc:
                self.subscribed.clear()
                await asyncio.sleep(trouble.failed(exc))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _on_job_events(self, data: bytes) -> None:
        for encoded in events.split(data):
            try:
                event = json.loads(encoded)
                job_id = str(event["job_id"])
            except (ValueError, KeyError, TypeError):
                log.warning("live feed: skipped a job event that is not one: %.200r", encoded)
                continue
            message = protocol.job_message(self.ids.next(), encoded)
            frame = protocol.text_frame(message)
            for admin in self._admins:
                if admin.wants_job(job_id):
                    admin.outbox.put(frame)
            if self._users:
                self.owners.route(event, message)
            else:
                self.owners.learn(event)

    def _to_owner(self, owner_id: int | None, job_id: str, message: str) -> None:
        if owner_id is None:
            return  # a system job: admins have it already
        frame: bytes | None = None  # owners hand back the message text: framed once per owner
        for subscriber in self._by_user.get(owner_id, ()):
            if not subscriber.is_admin and subscriber.wants_job(job_id):
                frame = frame or protocol.text_frame(message)
                subscriber.outbox.put(frame)

    # notifications ---------------------------------------------------------------------------

    async def _read_notifications(self) -> None:
        trouble = Backoff("live feed: notifications (Redis stream)", logger=log)
        after: str | None = None
        redis = self.resources.redis
        while True:
            try:
                if after is None:
                    after = await live.last_id(redis)
                    self._positioned.set()
                batch = await live.read_after(
                    redis, after, NOTIFICATION_BLOCK_MS, NOTIFICATION_BATCH
                )
                trouble.succeeded()
            except Exception as exc:
                await asyncio.sleep(trouble.failed(exc))
                continue
            for entry in batch:
                after = entry.stream_id
                self._on_notification(entry)

    def _on_notification(self, entry: live.Entry) -> None:
        frame: bytes | None = None
        for subscriber in self._by_user.get(entry.recipient_id, ()):
            if "notification" not in subscriber.topics:
                continue
            if subscriber.held is not None:
                subscriber.held.append(entry)
                continue
            frame = frame or protocol.text_frame(
                protocol.notification_message(entry.stream_id, entry.data)
            )
            subscriber.outbox.put(frame)

    # workers ---------------------------------------------------------------------------------

    async def _poll_workers(self) -> None:
        trouble = Backoff("live feed: worker heartbeats", logger=log)
        watch = WorkerWatch()
        while True:
            await asyncio.sleep(POLL_EVERY_S)
            if not any("worker" in admin.topics for admin in self._admins):
                watch.forget()
                continue
            try:
                records = await heartbeats.get_workers(self.resources.redis)
                trouble.succeeded()
            except Exception as exc:
                await asyncio.sleep(trouble.failed(exc))
                continue
            for kind, worker_id, record in watch.changes(records):
                frame = protocol.text_frame(protocol.encode(
                    "worker", self.ids.next(), event=kind, worker_id=worker_id, worker=record
                ))  # fmt: skip
                for admin in self._admins:
                    if "worker" in admin.topics:
                        admin.outbox.put(frame)


HUB = web.AppKey("ws_hub", Hub)
