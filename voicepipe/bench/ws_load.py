"""The ws bench's load process: holds many authenticated sockets and times what they receive.

Run as `python -m voicepipe.bench.ws_load`; it talks JSON lines: the first line on stdin names
the URL and the sockets (index, token, user id, role); it answers with the sockets it connected,
then takes commands: `counts` (messages received so far), `report` (counts, latencies, isolation
errors) and `exit`. A message's latency is its receipt time minus the publish time the bench put
in its payload (both processes share the machine's clock).
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import uvloop
from aiohttp import ClientSession, ClientTimeout, TCPConnector, WSMsgType


def raise_open_files_limit() -> int:
    """Lift the soft limit on open files to the hard one (a socket is a file); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass
class Tally:
    """What this process's sockets received, by bench phase."""

    received: dict[str, int] = field(default_factory=dict)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    isolation_errors: int = 0
    closed_early: int = 0

    def add(self, phase: str, latency_ms: float) -> None:
        self.received[phase] = self.received.get(phase, 0) + 1
        self.latencies_ms.setdefault(phase, []).append(latency_ms)


def _check(data: dict[str, Any], user_id: int, admin: bool, tally: Tally) -> None:
    """Time a bench message; count one that reached a socket it must not."""
    kind = data.get("type")
    if kind == "job":
        event = data["event"]
        if not admin and event.get("bench_owner") != user_id:
            tally.isolation_errors += 1
        payload = event
    elif kind == "notification":
        notification = data["notification"]
        if notification["recipient_id"] != user_id:
            tally.isolation_errors += 1
        payload = notification.get("data", {})
    elif kind == "worker":
        if not admin:
            tally.isolation_errors += 1
        return
    else:
        return
    sent_at = payload.get("sent_at")
    if sent_at is not None:
        tally.add(str(payload.get("bench_phase")), (time.time() - sent_at) * 1000)


async def _hold(http: ClientSession, urls: list[str], socket: list[Any], gate: asyncio.Semaphore,
                tally: Tally, connected: list[int], ready: asyncio.Event) -> None:  # fmt: skip
    index, token, user_id, role = socket
    url = urls[index % len(urls)]
    try:
        async with gate:
            ws = await http.ws_connect(url, headers={"Authorization": f"Bearer {token}"})
            welcome = await ws.receive(timeout=30)
            if welcome.type != WSMsgType.TEXT or json.loads(welcome.data)["type"] != "welcome":
                raise ConnectionError(f"not welcomed: {welcome}")
    except Exception:
        ready.set()
        return
    connected.append(index)
    ready.set()
    admin = role == "admin"
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            _check(json.loads(message.data), user_id, admin, tally)
    tally.closed_early += 1


async def main() -> None:
    raise_open_files_limit()
    spec = json.loads(await asyncio.to_thread(sys.stdin.readline))
    tally = Tally()
    connected: list[int] = []
    gate = asyncio.Semaphore(spec.get("connect_concurrency", 100))
    connector = TCPConnector(limit=0, force_close=False)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=None)) as http:
        started = time.perf_counter()
        readies = [asyncio.Event() for _ in spec["sockets"]]
        holders = [
            asyncio.create_task(_hold(http, spec["urls"], socket, gate, tally, connected, ready))
            for socket, ready in zip(spec["sockets"], readies, strict=True)
        ]
        for ready in readies:
            await ready.wait()
        # The sockets live until the end: a full collection scanning them all would stall this
        # process for a quarter of a second at 5000 and show up as the server's latency.
        gc.collect()
        gc.freeze()
        _say({"connected": connected, "connect_s": round(time.perf_counter() - started, 2)})
        while True:
            command = json.loads(await asyncio.to_thread(sys.stdin.readline) or '{"cmd": "exit"}')
            if command["cmd"] == "counts":
                _say({"received": sum(tally.received.values())})
            elif command["cmd"] == "report":
                _say(vars(tally))
            else:
                break
        for holder in holders:
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    uvloop.run(main())
