"""Per-frame quality features with librosa, on the speech detector's 10 ms frames.

Clipping is judged on the 16 kHz mono signal the decoder yields, not on the upload's own
samples: resampling low-passes the flat tops of a clipped waveform, which then ripple around
full scale, and a downmix averages a clipped channel with the others. A sample counts as
clipped at |x| >= CLIP_LEVEL (-0.18 dBFS). On espeak speech at 22.05 kHz clipped by 10-30 dB
this finds 80-90 % of the share of original samples at full scale (about 110 % for light
clipping), and speech normalised to a 0.99 peak scores under 1e-5. A clipped channel mixed
with clean ones, or clipping below full scale (an analogue stage), is missed.
"""

from __future__ import annotations

import librosa
import numpy as np
import scipy.fft  # type: ignore[import-untyped]  # comes with librosa

from voicepipe.audio.errors import CorruptAudioError
from voicepipe.domain.chunking.frames import FRAME_SAMPLES, HOP_SAMPLES, FloatArray
from voicepipe.domain.quality import FrameQuality

CLIP_LEVEL = 0.98
N_FFT = 512
# Frame k's window is centred on its hop: these columns of a FrameStream frame are the hop.
_HOP_FIRST = (FRAME_SAMPLES - HOP_SAMPLES) // 2
_WINDOW = np.hanning(FRAME_SAMPLES).astype(np.float32)


def frame_quality(frames: FloatArray) -> FrameQuality:
    """(n, FRAME_SAMPLES) frames from FrameStream -> their quality features (n rows).

    librosa.feature.rms over each frame's own hop (non-overlapping, so levels of frame
    ranges add up exactly), librosa.feature.spectral_flatness over its Hann-windowed
    25 ms window.
    """
    n = frames.shape[0]
    if n == 0:
        return FrameQuality(
            power=np.zeros(0, np.float64),
            peak=np.zeros(0, np.float32),
            clipped=np.zeros(0, np.uint8),
            flatness=np.zeros(0, np.float32),
        )
    hops = frames[:, _HOP_FIRST : _HOP_FIRST + HOP_SAMPLES]
    magnitude = np.abs(scipy.fft.rfft(frames * _WINDOW, n=N_FFT, axis=1, workers=1))
    try:
        rms = librosa.feature.rms(
            y=hops, frame_length=HOP_SAMPLES, hop_length=HOP_SAMPLES, center=False
        )
        flatness = librosa.feature.spectral_flatness(S=magnitude.T, n_fft=N_FFT)
    except librosa.ParameterError as exc:
        raise CorruptAudioError(f"the decoded audio cannot be analysed ({exc})") from exc
    rms = rms.reshape(n).astype(np.float64)
    if not np.isfinite(rms).all():
        raise CorruptAudioError("the decoded audio holds samples that are not numbers (NaN/inf)")
    magnitudes = np.abs(hops)
    return FrameQuality(
        power=rms * rms,
        peak=magnitudes.max(axis=1),
        clipped=(magnitudes >= CLIP_LEVEL).sum(axis=1).astype(np.uint8),
        flatness=np.nan_to_num(flatness.reshape(n), nan=1.0).astype(np.float32),
    )


def warm_up() -> None:
    """Run the librosa feature functions once: their first call pays for lazy imports."""
    frame_quality(np.zeros((2, FRAME_SAMPLES), dtype=np.float32))
