"""Transcription consensus: normalise, align (ROVER), vote by reliability, calibrated confidence."""

from voicepipe.domain.consensus.engine import (
    DEFAULT_ACCURACY,
    ChunkConsensus,
    PreparedChunk,
    Transcription,
    chunk_consensus,
    decide_chunk,
    prepare,
)
from voicepipe.domain.consensus.metrics import word_error_rate
from voicepipe.domain.consensus.normalize import Word, normalize_text, to_words
from voicepipe.domain.consensus.policy import Decision, NeedsMorePolicy
from voicepipe.domain.consensus.reliability import (
    ContributorAccuracy,
    estimate_accuracy,
    estimate_accuracy_prepared,
)

__all__ = [
    "DEFAULT_ACCURACY",
    "ChunkConsensus",
    "ContributorAccuracy",
    "Decision",
    "NeedsMorePolicy",
    "PreparedChunk",
    "Transcription",
    "Word",
    "chunk_consensus",
    "decide_chunk",
    "estimate_accuracy",
    "estimate_accuracy_prepared",
    "normalize_text",
    "prepare",
    "to_words",
    "word_error_rate",
]
