"""Quantiles from the log-bucket duration histograms of the job rollups (see migration 0007)."""

from __future__ import annotations

import math
from collections.abc import Sequence

GAMMA = 1.02  # bucket i holds (GAMMA^(i-1), GAMMA^i] seconds: values within 1% of the middle
FLOOR_BUCKET = -400  # everything up to 1 ms (and clock-skew negatives), read back as 0


def bucket_of(seconds: float) -> int:
    """The bucket PostgreSQL's voicepipe_duration_bucket gives `seconds`."""
    if seconds <= 0.001:
        return FLOOR_BUCKET
    return min(math.ceil(math.log(seconds) / math.log(GAMMA)), 1500)


def bucket_value(bucket: int) -> float:
    """The value that is at most 1% off anything in the bucket."""
    if bucket == FLOOR_BUCKET:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)


def quantiles(counts: Sequence[tuple[int, int]], qs: Sequence[float]) -> list[float] | None:
    """Quantiles (nearest rank of percentile_cont's position) of a histogram [(bucket, n)]."""
    ordered = sorted((b, n) for b, n in counts if n > 0)
    total = sum(n for _, n in ordered)
    if total == 0:
        return None
    out = []
    for q in qs:
        rank = round(q * (total - 1))  # 0-based position of the wanted value
        seen = 0
        for bucket, n in ordered:
            seen += n
            if seen > rank:
                out.append(bucket_value(bucket))
                break
    return out
