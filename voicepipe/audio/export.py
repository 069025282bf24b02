"""Write a recording's chunks as 16 kHz mono FLAC or WAV files, streaming the decode again."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import soundfile as sf

from voicepipe.audio.decode import stream_mono_16k
from voicepipe.domain.chunking import SAMPLE_RATE_HZ, ChunkPlan

ChunkFormat = Literal["flac", "wav"]


def export_chunks(
    path: Path, plan: ChunkPlan, out_dir: Path, stem: str, fmt: ChunkFormat = "flac"
) -> list[Path]:
    """Write one file per chunk, named STEM_0001.flac …, and return their paths in order.

    The recording is decoded a second time rather than kept in memory, so exporting a long
    file needs no more memory than chunking it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    spans = [
        (round(c.start_s * SAMPLE_RATE_HZ), round(c.end_s * SAMPLE_RATE_HZ)) for c in plan.chunks
    ]
    paths = [out_dir / f"{stem}_{k + 1:04d}.{fmt}" for k in range(len(spans))]
    writer: sf.SoundFile | None = None
    try:
        offset = 0
        k = 0  # chunks are ordered and disjoint: one file is open at a time
        for block in stream_mono_16k(path):
            block_end = offset + block.size
            while k < len(spans) and spans[k][0] < block_end:
                start, end = spans[k]
                if writer is None:
                    writer = sf.SoundFile(
                        paths[k],
                        "w",
                        samplerate=SAMPLE_RATE_HZ,
                        channels=1,
                        subtype="PCM_16",
                        format=fmt.upper(),
                    )
                lo, hi = max(start, offset), min(end, block_end)
                writer.write(block[lo - offset : hi - offset].clip(-1.0, 1.0))
                if end > block_end:
                    break
                writer.close()
                writer = None
                k += 1
            offset = block_end
    finally:
        if writer is not None:
            writer.close()
    return paths
