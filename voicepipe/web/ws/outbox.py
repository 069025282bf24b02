"""One socket's send queue, bounded in bytes: a client that cannot keep up is cut off (4008).

The fanout never waits on a socket: it appends the encoded message and wakes the socket's writer
task, which sends in order. What waits counts against the bound: the queue here plus what the
transport holds unsent. Past `limit_bytes` the queue is dropped, a close frame goes out and the
connection is aborted if the close does not get through within SLOW_CLOSE_GRACE_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
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
        self._ws = ws
        self._request = request
        self._limit_bytes = limit_bytes
        self._on_cut_off = on_cut_off
        self._queue: deque[str] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.closing = False

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    def put(self, text: str) -> None:
        """Queue one message (JSON text is ASCII: a character is a byte)."""
        if self.closing:
            return
        waiting = self._queued_bytes + len(text) + self._unsent_bytes()
        if waiting > self._limit_bytes:
            self._cut_off(waiting)
            return
        self._queue.append(text)
        self._queued_bytes += len(text)
        self._wake.set()

    async def stop(self) -> None:
        """Stop the writer (the socket is done); whatever is queued is dropped."""
        self.closing = True
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def close(self, code: int, reason: str) -> None:
        """Close the socket from the server's side (shutdown), waiting a bounded time."""
        await self.stop()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self._ws.close(code=code, message=reason.encode()),
                                   SLOW_CLOSE_GRACE_S)  # fmt: skip

    def _unsent_bytes(self) -> int:
        transport = self._request.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                text = self._queue.popleft()
                self._queued_bytes -= len(text)
                try:
                    await self._ws.send_str(text)
                except ConnectionError:
                    return  # the handler sees the socket close and cleans up

    def _cut_off(self, waiting_bytes: int) -> None:
        log.info("closing a websocket that does not keep up (%d bytes waiting, limit %d)",
                 waiting_bytes, self._limit_bytes)  # fmt: skip
        self.closing = True
        self._queue.clear()
        self._queued_bytes = 0
        self._on_cut_off()
        asyncio.create_task(self._close_slow())  # noqa: RUF006  (it ends by itself, bounded)

    async def _close_slow(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        code, reason = SLOW_CONSUMER
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(
                self._ws.close(code=code, message=reason.encode()), SLOW_CLOSE_GRACE_S
            )
        transport = self._request.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
