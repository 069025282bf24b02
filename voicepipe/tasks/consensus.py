"""The consensus jobs: a few chunks when their transcriptions arrive, and everything every 6 h."""

from __future__ import annotations

from typing import Any

from voicepipe.engine.cron import cron
from voicepipe.engine.registry import JobContext, task
from voicepipe.services import consensus


@task(
    queue="consensus", max_retries=1, retry_backoff=True, autoretry_for=consensus.RETRY_ON,
    time_limit_s=30 * 60,
)  # fmt: skip
async def calculate_consensus_for_chunks(ctx: JobContext, chunk_ids: list[int]) -> dict[str, Any]:
    """Consensus text, confidence and status of the chunks; flags spam transcriptions."""
    return await consensus.calculate_for_chunks(ctx, chunk_ids)


@task(
    queue="maintenance", max_retries=1, retry_backoff=True, autoretry_for=consensus.RETRY_ON,
    time_limit_s=3 * 3600,
)  # fmt: skip
async def recalculate_all_consensus(ctx: JobContext) -> dict[str, Any]:
    """Re-estimate contributor reliability over all transcriptions, then recompute every chunk."""
    return await consensus.recalculate_all(ctx)


cron(recalculate_all_consensus, hour={0, 6, 12, 18}, minute=41)
