"""The web process's garbage-collection policy: fewer and shorter stop-the-world collections.

CPython's full (generation 2) collection scans every tracked object and blocks the event loop
meanwhile: at 5,000 websockets that is about 400,000 objects (mostly aiohttp's, per socket) and
300-400 ms, far past the live feed's 100 ms latency target. The feed itself keeps nothing per
message that the collector tracks (see voicepipe.web.ws.outbox), so what is left is when and
over what the collector runs:

- `gc.freeze()` once started: the modules, settings, pools and routes made at startup live as
  long as the process; frozen, no collection scans them again (CPython's advice for
  long-running servers). Cost: a cycle among those objects is never freed; they are made once.
- `gc.set_threshold(..., OLD_AFTER_MIDDLE)`: a full collection may run only after 100 middle
  collections instead of 10 (and, as CPython always asks, once the objects promoted since the
  last one are a quarter of the old generation). At 5,000 sockets the process promotes enough
  for a full collection every few seconds while sockets connect and about every 20-30 s while
  they stay (heartbeat timers, a socket's next read); now it is ten times rarer. Young and
  middle collections keep CPython's sizes: they stay in the 1-20 ms range (a larger young
  generation was tried: each middle collection then took 50-60 ms). Cost: cyclic garbage that
  reached the old generation (aiohttp leaves a closed socket's objects in cycles, through the
  exceptions it keeps) waits ten times longer to be freed, so memory after a wave of
  disconnects drops later; it stays bounded.

Full collections still run, and one is shorter only by the frozen startup heap (roughly 40 %
of the objects at 5,000 sockets): it still scans every socket. GC is never disabled, so memory
stays bounded when sockets come and go.
"""

from __future__ import annotations

import gc

YOUNG_OBJECTS = 700  # net new tracked objects before a young collection (CPython's default)
MIDDLE_AFTER_YOUNG = 10  # young collections before a middle one (CPython's default)
OLD_AFTER_MIDDLE = 100  # middle collections before a full one may run (CPython: 10)


def apply_after_startup() -> None:
    """Call once the app has started, before it takes traffic."""
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, MIDDLE_AFTER_YOUNG, OLD_AFTER_MIDDLE)
