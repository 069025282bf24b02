"""Chunking recordings at pauses: frames, a swappable speech detector, and the cut planner."""

from voicepipe.domain.chunking.detector import (
    EnergyDetector,
    EnergyDetectorConfig,
    SpeechDetector,
)
from voicepipe.domain.chunking.frames import FRAME_S, SAMPLE_RATE_HZ, FrameStream
from voicepipe.domain.chunking.planner import Chunk, ChunkingConfig, ChunkPlan, plan_chunks

__all__ = [
    "FRAME_S",
    "SAMPLE_RATE_HZ",
    "Chunk",
    "ChunkPlan",
    "ChunkingConfig",
    "EnergyDetector",
    "EnergyDetectorConfig",
    "FrameStream",
    "SpeechDetector",
    "plan_chunks",
]
