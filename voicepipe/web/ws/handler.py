"""`GET /ws`: authenticate, register with the hub, replay what a reconnecting client missed,
then answer the client's messages until it leaves."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from voicepipe.services.notifications import live
from voicepipe.web.context import resources_of
from voicepipe.web.middleware import DEPENDENCY_ERRORS
from voicepipe.web.ws import protocol
from voicepipe.web.ws.auth import Refused, wait_for_auth
from voicepipe.web.ws.hub import HUB, Hub
from voicepipe.web.ws.outbox import Outbox
from voicepipe.web.ws.subscriber import Subscriber

log = logging.getLogger(__name__)


async def feed(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    resources = resources_of(request)
    # No permessage-deflate: messages are small JSON, and deflating each one for each socket
    # would cost CPU per delivery and a compressor's memory per socket.
    ws = web.WebSocketResponse(
        heartbeat=hub.options.ping_interval_s, compress=False,
        max_msg_size=protocol.MAX_CLIENT_MESSAGE_BYTES,
    )  # fmt: skip
    await ws.prepare(request)
    try:
        found = await wait_for_auth(ws, request, resources, hub.options.auth_timeout_s)
    except DEPENDENCY_ERRORS as exc:
        log.warning("live feed: cannot authenticate a socket now: %r", exc)
        found = Refused(*protocol.TRY_LATER)
    if isinstance(found, Refused):
        await ws.close(code=found.code, message=found.reason.encode())
        return ws
    outbox = Outbox(ws, request, resources.settings.ws_send_queue_bytes, hub.cut_off)
    subscriber = Subscriber(found, outbox)
    since = request.query.get("since")
    if since is not None:
        subscriber.held = []  # live notifications wait until the replay is sent
    hub.add(subscriber)
    try:
        _send(subscriber, _welcome(hub, subscriber))
        if since is not None:
            await _replay(hub, subscriber, since)
        await _serve(ws, hub, subscriber)
    finally:
        hub.remove(subscriber)
        outbox.stop()
    return ws


def _welcome(hub: Hub, subscriber: Subscriber) -> str:
    return protocol.encode(
        "welcome", hub.ids.next(), user_id=subscriber.user.id, role=subscriber.user.role,
        topics=sorted(subscriber.topics),
    )  # fmt: skip


async def _replay(hub: Hub, subscriber: Subscriber, since: str) -> None:
    """The user's notifications after `since`, then the live ones held meanwhile."""
    after: str | None = None  # the held notifications up to this id were replayed
    missed: list[live.Entry] | None = []
    try:
        missed = await live.missed(hub.resources.redis, since, subscriber.user.id)
        after = since
    except ValueError as exc:
        _error(hub, subscriber, str(exc))
    except DEPENDENCY_ERRORS as exc:
        log.warning("live feed: cannot replay notifications now: %r", exc)
        missed = None
    if missed is None:
        _send(subscriber, protocol.encode(
            "reset", hub.ids.next(),
            message="some notifications since that id are no longer kept; fetch them with "
            "GET /api/jobs/notifications",
        ))  # fmt: skip
    for entry in missed or []:
        _send(subscriber, protocol.notification_message(entry.stream_id, entry.data))
        after = entry.stream_id
    for entry in subscriber.caught_up(after):
        _send(subscriber, protocol.notification_message(entry.stream_id, entry.data))


async def _serve(ws: web.WebSocketResponse, hub: Hub, subscriber: Subscriber) -> None:
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            if message.type == WSMsgType.BINARY:
                _error(hub, subscriber, "messages are JSON text")
            continue
        try:
            parsed = protocol.parse(message.data)
            if isinstance(parsed, protocol.Subscribe):
                subscriber.subscribe(parsed.topics, parsed.job_id)
                _send(subscriber, protocol.encode(
                    "subscribed", hub.ids.next(), topics=sorted(subscriber.topics),
                    job_id=subscriber.job_id,
                ))  # fmt: skip
            elif isinstance(parsed, protocol.Ping):
                _send(subscriber, protocol.encode("pong", hub.ids.next()))
            else:
                _error(hub, subscriber, "this socket is authenticated already")
        except protocol.ProtocolError as exc:
            _error(hub, subscriber, str(exc))


def _error(hub: Hub, subscriber: Subscriber, text: str) -> None:
    _send(subscriber, protocol.encode("error", hub.ids.next(), message=text))


def _send(subscriber: Subscriber, message: str) -> None:
    """A message for this socket alone (the hub frames a fanned-out message once for all)."""
    subscriber.outbox.put(protocol.text_frame(message))
