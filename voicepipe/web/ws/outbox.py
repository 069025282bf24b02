"""One socket's send side, bounded in bytes: a client that cannot keep up is cut off (4008).

The fanout never waits on a socket and allocates nothing per socket: the hub builds each
message's websocket frame once (protocol.text_frame) and `put` hands that same bytes object to
every socket's transport, which sends it now or keeps it (bytes: nothing for the garbage
collector to scan) until the client reads. So there is no writer task, future or coroutine per
socket or per message; aiohttp's send_str would be two coroutines and a copy per delivery.
This is safe beside aiohttp's own frames (ping, pong, close) because every write is one whole
frame, written synchronously, and nothing is written once aiohttp starts closing the socket.

What waits is what the transport holds unsent. Past `limit_bytes` nothing more is written, a
close frame goes out and the connection is aborted if the close does not get through within
SLOW_CLOSE_GRACE_S. `stop` drops every reference to the socket, so a closed socket's objects
are freed by reference counting without waiting for a garbage collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import web

from voicepipe.web.ws.protocol import SLOW_CONSUMER

log = logging.getLogger(__name__)

SLOW_CLOSE_GRACE_S = 5.0  # a client that reads nothing never acknowledges the close frame


class Outbox:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.BaseRequest,
        limit_bytes: int,
        on_cut_off: Callable[[], None],
    ) -> None:
        self._ws: web.WebSocketResponse | None = ws
        self._transport: asyncio.Transport | None = request.transport
        self._limit_bytes = limit_bytes
        self._on_cut_off = on_cut_off
        self.closing = False

    def put(self, frame: bytes) -> None:
        """Send one frame built by protocol.text_frame, or cut the socket off if too much of
        what it was sent still waits."""
        ws, transport = self._ws, self._transport
        if self.closing or ws is None or transport is None:
            return
        if ws.closed or transport.is_closing():
            return  # aiohttp is closing it (client left, missed pong): no frame after its close
        waiting = transport.get_write_buffer_size() + len(frame)
        if waiting > self._limit_bytes:
            self._cut_off(waiting)
            return
        transport.write(frame)

    def stop(self) -> None:
        """The socket is done: nothing more is sent, and no reference to it is kept."""
        self.closing = True
        self._ws = self._transport = None

    async def close(self, code: int, reason: str) -> None:
        """Close the socket from the server's side (shutdown), waiting a bounded time."""
        ws = self._ws
        self.stop()
        if ws is not None:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(ws.close(code=code, message=reason.encode()),
                                       SLOW_CLOSE_GRACE_S)  # fmt: skip

    def _cut_off(self, waiting_bytes: int) -> None:
        log.info("closing a websocket that does not keep up (%d bytes waiting, limit %d)",
                 waiting_bytes, self._limit_bytes)  # fmt: skip
        ws, transport = self._ws, self._transport
        self.stop()
        self._on_cut_off()
        if ws is not None and transport is not None:
            asyncio.create_task(_close_slow(ws, transport))  # noqa: RUF006  (bounded, ends by itself)


async def _close_slow(ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
    code, reason = SLOW_CONSUMER
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(ws.close(code=code, message=reason.encode()), SLOW_CLOSE_GRACE_S)
    if not transport.is_closing():
        transport.abort()
