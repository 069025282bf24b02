"""A websocket client that reads nothing: the slow consumer of the ws bench and its test.

Its handshake is written by hand on a socket with a tiny receive buffer, so the server's send
queue fills after a few kilobytes instead of after the megabytes a loopback socket buffers by
default. `drain` then reads everything that came and returns how the server closed it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import struct
from dataclasses import dataclass

RECEIVE_BUFFER_BYTES = 4096
READ_LIMIT_BYTES = 16 * 1024  # what asyncio buffers before it stops reading the socket


@dataclass
class Drained:
    messages: int  # text frames received before the close
    close_code: int | None  # None: the connection ended without a close frame
    close_reason: str


class SlowClient:
    def __init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self, host: str, port: int, path: str, token: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        self._reader, self._writer = await asyncio.open_connection(
            sock=sock, limit=READ_LIMIT_BYTES
        )
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        )
        self._writer.write(request.encode())
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"websocket handshake refused: {head[:80]!r}")

    async def drain(self, timeout_s: float) -> Drained:
        """Read every frame until the server closes (or `timeout_s` passes without one)."""
        assert self._reader is not None and self._writer is not None
        messages = 0
        try:
            while True:
                opcode, payload = await asyncio.wait_for(_frame(self._reader), timeout_s)
                if opcode == 0x1:
                    messages += 1
                elif opcode == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    return Drained(messages, code, payload[2:].decode(errors="replace"))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            return Drained(messages, None, "")
        finally:
            self._writer.close()


async def _frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame (servers never mask): its opcode and payload."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(length)
