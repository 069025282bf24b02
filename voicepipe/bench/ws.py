"""`voicepipe bench ws`: the live feed under N sockets — delivery latency, completeness,
isolation, memory per connection, and what one client that reads nothing does to the others.

Web processes are `voicepipe web` children; the sockets are held by separate load processes
(ws_load), so the server's figures are its own. Two phases of `seconds` each at `rate` messages
a second: steady, then the same with a slow consumer (a socket that reads nothing, flooded with
big notifications) that must be cut off with 4008 while the others keep their latency.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psutil

from voicepipe.bench.api import Server
from voicepipe.bench.waiting import percentile
from voicepipe.bench.ws_load import raise_open_files_limit
from voicepipe.bench.ws_slow import SlowClient
from voicepipe.bench.ws_traffic import Population, Socket, Traffic, make_population
from voicepipe.errors import ConfigError
from voicepipe.resources import Resources

Say = Callable[[str], None]
SOCKETS_PER_LOAD_PROCESS = 8_000  # one event loop; more processes when one core is the limit
FILES_SPARE = 200  # open files a web process needs besides its sockets
SETTLE_S = 10.0
# The first traffic after a connection storm meets the full garbage collections that storm left
# due (hundreds of ms at 10,000 sockets a process): reported as `warmup`, apart from `steady`.
WARMUP_S = 2.0  # longest wait for messages still in flight after a phase
FLOOD_RATE_PER_S, FLOOD_PAD_BYTES, FLOOD_S = 250, 8000, 3.0  # ~2 MB/s at the slow consumer

METHOD = (
    "{clients} sockets ({admins} admin) on {web} `voicepipe web` process(es), held by {loads} "
    "load process(es); {rate}/s alternating job events (live channel) and notifications "
    "(stream + channel) for {seconds}s after a {warmup}s warm-up, then {seconds}s more with one socket that reads nothing "
    "flooded with 8 KB notifications; latency = receipt - publish time in the payload; RSS per "
    "connection = (web RSS connected - before) / sockets"
)


@dataclass(frozen=True)
class WsBenchOptions:
    clients: int
    rate_per_s: float
    seconds: float
    web_processes: int = 1
    load_processes: int = 0  # 0: one per SOCKETS_PER_LOAD_PROCESS


class LoadProcess:
    """A ws_load child: JSON lines in, JSON lines out."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, url_of: list[str], sockets: list[Socket]) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "voicepipe.bench.ws_load",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**30,
        )  # fmt: skip
        spec = {"sockets": [[s.index, s.token, s.user_id, s.role] for s in sockets],
                "urls": url_of}  # fmt: skip
        await self._send(spec)

    async def ask(self, command: str) -> dict[str, Any]:
        await self._send({"cmd": command})
        return await self.answer()

    async def answer(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a ws load process ended early")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self._send({"cmd": "exit"})
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()


def _cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _rss(pids: list[int]) -> int:
    return sum(psutil.Process(pid).memory_info().rss for pid in pids)


def _latency(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"p50_ms": round(percentile(samples, 50), 2), "p99_ms": round(percentile(samples, 99), 2),
            "max_ms": round(max(samples), 2)}  # fmt: skip


async def _settle(loads: list[LoadProcess], expected: int) -> None:
    """Wait until the sockets received `expected` messages in all, for up to SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        counts = await asyncio.gather(*(load.ask("counts") for load in loads))
        if sum(c["received"] for c in counts) >= expected:
            return
        await asyncio.sleep(0.2)


async def run_ws_bench(resources: Resources, options: WsBenchOptions, say: Say) -> dict[str, Any]:
    files = raise_open_files_limit()
    per_web = math.ceil(options.clients / options.web_processes) + FILES_SPARE
    if per_web > files:
        raise ConfigError(
            f"{options.clients} sockets on {options.web_processes} web process(es) need about "
            f"{per_web} open files each; this machine allows {files}: give --web-processes "
            f"{math.ceil(options.clients / (files - FILES_SPARE))}"
        )
    n_loads = options.load_processes or math.ceil(options.clients / SOCKETS_PER_LOAD_PROCESS)
    say(f"creating accounts for {options.clients} sockets")
    population = await make_population(resources, options.clients)
    async with AsyncExitStack() as stack:
        servers = [Server(resources) for _ in range(options.web_processes)]
        urls = [await stack.enter_async_context(server) for server in servers]
        web_pids = [s.proc.pid for s in servers if s.proc is not None]
        return await _measure(resources, options, population, urls, web_pids, n_loads, stack, say)


async def _measure(resources: Resources, options: WsBenchOptions, population: Population,
                   urls: list[str], web_pids: list[int], n_loads: int, stack: AsyncExitStack,
                   say: Say) -> dict[str, Any]:  # fmt: skip
    ws_urls = [u.replace("http://", "ws://") + "/ws" for u in urls]
    rss_before = _rss(web_pids)
    loads = [LoadProcess() for _ in range(n_loads)]
    share = math.ceil(len(population.sockets) / n_loads)
    for k, load in enumerate(loads):
        stack.push_async_callback(load.stop)
        await load.start(ws_urls, population.sockets[k * share : (k + 1) * share])
    say(f"connecting {options.clients} sockets from {n_loads} load process(es)")
    answers = await asyncio.gather(*(load.answer() for load in loads))
    connected_ids = {i for a in answers for i in a["connected"]}
    connected = [s for s in population.sockets if s.index in connected_ids]
    rss_connected = _rss(web_pids)
    load_pids = [load.proc.pid for load in loads if load.proc is not None]
    traffic = Traffic(resources, population, connected)

    warmup_s = min(WARMUP_S, options.seconds)
    say(f"warm-up traffic: {options.rate_per_s}/s for {warmup_s}s (reported apart)")
    await traffic.steady("warmup", options.rate_per_s, warmup_s)
    await _settle(loads, traffic.owed.expected["warmup"])

    say(f"steady traffic: {options.rate_per_s}/s for {options.seconds}s")
    cpu_web, cpu_load, wall = _cpu_s(web_pids), _cpu_s(load_pids), time.perf_counter()
    busy = _machine_busy_s()
    await traffic.steady("steady", options.rate_per_s, options.seconds)
    await _settle(loads, traffic.owed.expected["warmup"] + traffic.owed.expected["steady"])
    wall = time.perf_counter() - wall
    web_cpu = (_cpu_s(web_pids) - cpu_web) / wall
    load_cpu = (_cpu_s(load_pids) - cpu_load) / wall
    machine_cpu = (_machine_busy_s() - busy) / wall

    say("the same with a slow consumer")
    slow = SlowClient()
    target = urlsplit(urls[0])
    assert target.hostname is not None and target.port is not None
    await slow.connect(target.hostname, target.port, "/ws", population.slow_token)
    flood_s = min(FLOOD_S, options.seconds)
    _, flooded = await asyncio.gather(
        traffic.steady("slow", options.rate_per_s, options.seconds),
        traffic.flood(population.slow_user_id, FLOOD_RATE_PER_S, flood_s, FLOOD_PAD_BYTES),
    )
    drained = await slow.drain(timeout_s=10)
    await _settle(loads, sum(traffic.owed.expected.values()))
    reports = await asyncio.gather(*(load.ask("report") for load in loads))
    rss_after = _rss(web_pids)

    def merged(phase: str) -> list[float]:
        return [x for r in reports for x in r["latencies_ms"].get(phase, [])]

    def received(phase: str) -> int:
        return sum(r["received"].get(phase, 0) for r in reports)

    published = dict(traffic.owed.published)
    admins = sum(1 for s in population.sockets if s.role == "admin")
    return {
        "method": METHOD.format(
            clients=options.clients,
            admins=admins,
            web=len(urls),
            loads=n_loads,
            rate=options.rate_per_s,
            seconds=options.seconds,
            warmup=warmup_s,
        ),
        "clients": options.clients,
        "connected": len(connected),
        "admin_sockets": admins,
        "web_processes": len(urls),
        "load_processes": n_loads,
        "rate_per_s": options.rate_per_s,
        "seconds": options.seconds,
        "connect_s": max(a["connect_s"] for a in answers),
        "published": published,
        "expected": traffic.owed.expected["steady"],
        "delivered": received("steady"),
        **_latency(merged("steady")),
        "deliveries_per_s": round(traffic.owed.expected["steady"] / options.seconds),
        "isolation_errors": sum(r["isolation_errors"] for r in reports),
        "closed_early": sum(r["closed_early"] for r in reports),
        "web_rss_mb": {
            "before": round(rss_before / 2**20, 1),
            "connected": round(rss_connected / 2**20, 1),
            "after_traffic": round(rss_after / 2**20, 1),
        },
        "rss_per_connection_kb": round(
            (rss_connected - rss_before) / max(len(connected), 1) / 1024, 1
        ),
        "web_cpu_cores": round(web_cpu, 2),
        "load_cpu_cores": round(load_cpu, 2),
        "machine_cpu_cores": round(machine_cpu, 2),  # everything: web, load, Redis, publisher
        "machine_cores": psutil.cpu_count(),
        "load_bound": load_cpu > 0.9 * min(n_loads, psutil.cpu_count() or 1),
        "warmup": {
            "seconds": warmup_s,
            "expected": traffic.owed.expected["warmup"],
            "delivered": received("warmup"),
            **_latency(merged("warmup")),
        },
        "slow_consumer": {
            "close_code": drained.close_code,
            "close_reason": drained.close_reason,
            "flooded": flooded,
            "received_before_close": drained.messages,
            "others_expected": traffic.owed.expected["slow"],
            "others_delivered": received("slow"),
            **{f"others_{k}": v for k, v in _latency(merged("slow")).items()},
        },
    }
