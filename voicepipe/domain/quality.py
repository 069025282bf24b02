"""Audio quality of a recording or chunk, and the readable reasons it falls below the thresholds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AudioQuality(BaseModel):
    """Measured on the 16 kHz mono signal the chunker sees (librosa's feature functions)."""

    model_config = ConfigDict(frozen=True)

    rms_dbfs: float  # RMS level over the whole signal
    speech_dbfs: float  # RMS level over the frames judged speech
    peak_dbfs: float
    clipping_ratio: float  # share of samples at or near full scale
    snr_db: float  # speech level above the background (non-speech) level
    speech_ratio: float  # share of frames judged speech
    spectral_flatness: float  # median over speech frames: 0 tonal/voiced … 1 white noise


class QualityThresholds(BaseModel):
    """The VOICEPIPE_QUALITY_* settings (their defaults live there)."""

    model_config = ConfigDict(frozen=True)

    min_speech_dbfs: float
    max_clipping: float
    min_snr_db: float
    min_speech_ratio: float
    max_flatness: float
