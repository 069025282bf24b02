"""Batches of jobs: opened with their size; when the last job finishes the owner is told once.

The jobs of a batch carry its id (`enqueue(..., batch_id=...)`) and do not notify one by one: a
batch of 500 recordings is one notification at its end, with how many succeeded and failed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection

from voicepipe import keys
from voicepipe.db import batches as batches_db
from voicepipe.domain.batches import BatchSummary, batch_level, batch_message
from voicepipe.errors import InvalidInput, NotFound
from voicepipe.resources import Resources
from voicepipe.services.notifications import send_notification

log = logging.getLogger(__name__)


async def open_batch(
    resources: Resources,
    name: str,
    total: int,
    owner_id: int | None = None,
    batch_id: str | None = None,
) -> str:
    """A new batch of `total` jobs (under `batch_id`, else a fresh id); enqueue them with the
    returned id as `batch_id`."""
    if total < 1:
        raise InvalidInput("a batch holds at least one job")
    batch_id = batch_id or uuid.uuid4().hex
    await batches_db.create(resources.db, batch_id, name, owner_id, total)
    await resources.redis.sadd(keys.OPEN_BATCHES, batch_id)  # type: ignore[misc]
    return batch_id


async def get_batch(resources: Resources, batch_id: str) -> BatchSummary:
    summary = await batches_db.summary(resources.db, batch_id)
    if summary is None:
        raise NotFound(f"no batch with id {batch_id}")
    return summary


async def close_finished_batches(
    resources: Resources, job_ids: Collection[str]
) -> list[BatchSummary]:
    """Close and tell the open batches whose last job is among the recorded `job_ids`.

    Costs one Redis call when no batch is open. Safe to call twice for the same jobs: a batch is
    closed, and told, once."""
    if not job_ids or not await resources.redis.scard(keys.OPEN_BATCHES):  # type: ignore[misc]
        return []
    return await _close(resources, await batches_db.open_batch_ids(resources.db, list(job_ids)))


async def close_done_batches(resources: Resources) -> list[BatchSummary]:
    """Close every open batch whose jobs have all finished (the sweep behind the recorder's
    hook: a batch whose last notification failed, or whose Redis hint was lost)."""
    return await _close(resources, await batches_db.all_open_ids(resources.db))


async def _close(resources: Resources, batch_ids: list[str]) -> list[BatchSummary]:
    closed = []
    for batch_id in batch_ids:
        # closed and told in one transaction: a failure to tell leaves the batch open, to be
        # told by the next call (the dedupe key makes a second telling a no-op)
        async with resources.db.acquire() as conn, conn.transaction():
            summary = await batches_db.close_if_done(conn, batch_id)
            if summary is not None:
                await _tell(resources, summary)
                closed.append(summary)
    if closed:
        await resources.redis.srem(keys.OPEN_BATCHES, *(s.id for s in closed))  # type: ignore[misc]
    return closed


async def _tell(resources: Resources, summary: BatchSummary) -> None:
    log.info("batch %s (%s) finished: %s", summary.id, summary.name, batch_message(summary))
    await send_notification(
        resources, f"Batch {summary.name} finished", batch_message(summary), batch_level(summary),
        recipient_id=summary.owner_id,
        recipient_type="user" if summary.owner_id is not None else "admin",
        data={"batch_id": summary.id, **summary.model_dump(mode="json", exclude={"id"})},
        dedupe_key=f"batch:{summary.id}",
    )  # fmt: skip
