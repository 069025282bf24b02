"""`ping`: the smallest real job, proving the path from enqueue to result end to end."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from voicepipe.engine.registry import JobContext, task


@task(queue="default")
async def ping(ctx: JobContext, payload: str = "pong") -> dict[str, Any]:
    return {
        "payload": payload,
        "job_id": ctx.job_id,
        "queue": ctx.queue,
        "worker": ctx.worker_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "at": time.time(),
    }
