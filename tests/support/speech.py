"""Speech recordings with known pauses: espeak-ng sentences joined by silences, noise, gains."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

FloatArray = npt.NDArray[np.float32]

SENTENCES = (
    "The quick brown fox jumps over the lazy dog",
    "Please call Stella and ask her to bring these things from the store",
    "Six spoons of fresh snow peas and five thick slabs of blue cheese",
    "We also need a small plastic snake and a big toy frog for the kids",
    "She can scoop these things into three red bags",
    "The birch canoe slid on the smooth planks",
    "Glue the sheet to the dark blue background",
    "It is easy to tell the depth of a well",
    "These days a chicken leg is a rare dish",
    "Rice is often served in round bowls",
    "The juice of lemons makes fine punch",
    "The box was thrown beside the parked truck",
    "Four hours of steady work faced us",
    "A large size in stockings is hard to sell",
    "The boy was there when the sun rose",
    "A rod is used to catch pink salmon",
    "The source of the huge river is the clear spring",
    "Kick the ball straight and follow through",
    "Help the woman get back to her feet",
    "A pot of tea helps to pass the evening",
    "Smoky fires lack flame and heat",
    "The soft cushion broke the man's fall",
    "The salt breeze came across from the sea",
    "The girl at the booth sold fifty bonds",
)
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb+m3")
ESPEAK_RATE_HZ = 22_050


@dataclass(frozen=True)
class SpeechFixture:
    """A mono recording and the true [start_s, end_s] of each spoken sentence in it.

    sounding_10ms marks the 10 ms frames where the clean speech is audible (within 40 dB of
    its loudest frame): a cut there would split a sound, while a cut elsewhere inside a
    sentence falls in a silence between words.
    """

    name: str
    samples: FloatArray
    sample_rate_hz: int
    speech_spans_s: tuple[tuple[float, float], ...]
    sounding_10ms: npt.NDArray[np.bool_]
    sentences: tuple[str, ...] = ()  # the text spoken in each span, in order

    def text_between(self, start_s: float, end_s: float) -> str:
        """The sentences whose middle falls in [start_s, end_s): what a chunk there says."""
        return " ".join(
            text
            for text, (a, b) in zip(self.sentences, self.speech_spans_s, strict=True)
            if start_s <= (a + b) / 2 < end_s
        )

    def cuts_sound_at(self, time_s: float) -> bool:
        frame = int(time_s * 100 + 1e-6)
        return frame < self.sounding_10ms.size and bool(self.sounding_10ms[frame])

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate_hz

    def write(self, path: Path, channels: int = 1) -> Path:
        data = np.repeat(self.samples[:, None], channels, axis=1) if channels > 1 else self.samples
        sf.write(path, data, self.sample_rate_hz, subtype="PCM_16")
        return path


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, words_per_min: int, cache_dir: Path) -> FloatArray:
    """One sentence from espeak-ng, trimmed of its own leading and trailing silence; cached."""
    key = hashlib.sha256(f"{voice}|{words_per_min}|{text}".encode()).hexdigest()[:16]
    path = cache_dir / f"espeak-{key}.wav"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.wav")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_min), "-w", str(tmp), text],
            check=True,
            capture_output=True,
        )
        tmp.replace(path)
    samples, rate_hz = sf.read(path, dtype="float32")
    assert rate_hz == ESPEAK_RATE_HZ, rate_hz
    return _trim(samples)


def _trim(samples: FloatArray, floor_db: float = -40.0) -> FloatArray:
    """Cut to the first/last 10 ms frame within floor_db of the loudest frame: the true speech."""
    hop = ESPEAK_RATE_HZ // 100
    n = samples.size // hop
    rms = np.sqrt(np.mean(samples[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > floor_db)
    return samples[loud[0] * hop : (loud[-1] + 1) * hop].copy()


def build_recording(
    name: str,
    cache_dir: Path,
    seed: int,
    n_sentences: int,
    pause_range_s: tuple[float, float],
    noise: str | None = None,
    snr_db: float = 60.0,
    gain_range_db: float = 0.0,
) -> SpeechFixture:
    """Join random sentences with random pauses; add white/pink noise at snr_db over speech.

    gain_range_db > 0 sets each sentence's level at random within ±gain_range_db, so levels
    jump between sentences. Lead-in and tail silences are 0.3-1.0 s.
    """
    rng = np.random.default_rng(seed)
    rate = ESPEAK_RATE_HZ
    parts: list[FloatArray] = [np.zeros(int(rng.uniform(0.3, 1.0) * rate), np.float32)]
    spans: list[tuple[float, float]] = []
    texts: list[str] = []
    cursor = parts[0].size
    for k in range(n_sentences):
        text = SENTENCES[int(rng.integers(len(SENTENCES)))]
        voice = VOICES[int(rng.integers(len(VOICES)))]
        sentence = speak(text, voice, int(rng.integers(140, 190)), cache_dir)
        gain = 10 ** (rng.uniform(-gain_range_db, gain_range_db) / 20) if gain_range_db else 1.0
        sentence = (sentence * 0.5 * gain).astype(np.float32)
        spans.append((cursor / rate, (cursor + sentence.size) / rate))
        texts.append(text)
        pause_s = rng.uniform(*pause_range_s) if k < n_sentences - 1 else rng.uniform(0.3, 1.0)
        parts += [sentence, np.zeros(int(pause_s * rate), np.float32)]
        cursor += sentence.size + parts[-1].size
    clean = np.concatenate(parts)
    speech_power = np.mean(
        np.concatenate([clean[int(a * rate) : int(b * rate)] for a, b in spans]) ** 2
    )
    noise_power = speech_power / 10 ** (snr_db / 10)
    samples = clean + _noise(rng, clean.size, noise or "white") * np.sqrt(noise_power)
    return SpeechFixture(
        name, samples.astype(np.float32), rate, tuple(spans), _sounding(clean), tuple(texts)
    )


def _sounding(clean: FloatArray, floor_db: float = -40.0) -> npt.NDArray[np.bool_]:
    # 10 ms is 220.5 samples at 22.05 kHz: frame edges are rounded, not accumulated.
    n = int(clean.size * 100 / ESPEAK_RATE_HZ)
    edges = np.round(np.arange(n) * ESPEAK_RATE_HZ / 100).astype(np.int64)
    energy = np.add.reduceat(clean.astype(np.float64) ** 2, edges)
    counts = np.diff(np.append(edges, clean.size))
    rms = np.sqrt(energy / counts + 1e-12)
    loud: npt.NDArray[np.bool_] = 20 * np.log10(rms / rms.max()) > floor_db
    return loud


def _noise(rng: np.random.Generator, n: int, colour: str) -> FloatArray:
    """Unit-power white or pink (1/f power) noise."""
    white = rng.standard_normal(n)
    if colour == "white":
        return white.astype(np.float32)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    spectrum[1:] /= np.sqrt(freqs[1:] / freqs[1])
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n)
    unit: FloatArray = (pink / pink.std()).astype(np.float32)
    return unit


# name -> (pause range s, noise colour, SNR dB, ±gain dB between sentences)
SCENARIOS: dict[str, tuple[tuple[float, float], str | None, float, float]] = {
    "clean": ((0.4, 1.5), None, 60, 0),
    "short_pauses": ((0.15, 0.35), None, 60, 0),
    "white_10db": ((0.4, 1.5), "white", 10, 0),
    "pink_10db": ((0.4, 1.5), "pink", 10, 0),
    "pink_5db": ((0.4, 1.5), "pink", 5, 0),
    "levels_10db": ((0.4, 1.5), None, 40, 10),
    "short_white_10db": ((0.15, 0.35), "white", 10, 0),
    "short_pink_levels": ((0.15, 0.35), "pink", 10, 10),
}


def standard_fixtures(cache_dir: Path, n_sentences: int = 10, seed: int = 0) -> list[SpeechFixture]:
    """The evaluation set: clean, short pauses, noisy (white/pink), level jumps, and mixes."""
    return [
        build_recording(
            f"{name}_s{seed}", cache_dir, seed * 100 + k, n_sentences, pauses, noise, snr, gain
        )
        for k, (name, (pauses, noise, snr, gain)) in enumerate(SCENARIOS.items())
    ]


# container format, file suffix, encoder: what browsers and phones upload
ENCODINGS: dict[str, tuple[str, str, str]] = {
    "wav": ("wav", ".wav", "pcm_s16le"),
    "flac": ("flac", ".flac", "flac"),
    "ogg_vorbis": ("ogg", ".ogg", "libvorbis"),
    "ogg_opus": ("ogg", ".opus", "libopus"),
    "mp3": ("mp3", ".mp3", "libmp3lame"),
    "webm_opus": ("webm", ".webm", "libopus"),
    "m4a_aac": ("ipod", ".m4a", "aac"),
}


def encode(
    samples: FloatArray, rate_hz: int, channels: int, encoding: str, path_stem: Path
) -> Path:
    """Encode mono `samples` (copied to every channel) with PyAV's bundled encoders."""
    import av

    fmt, suffix, codec_name = ENCODINGS[encoding]
    path = path_stem.with_suffix(suffix)
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    with av.open(str(path), mode="w", format=fmt) as container:
        codec = av.Codec(codec_name, "w")
        rates = codec.audio_rates or ()
        out_rate = rate_hz if not rates or rate_hz in rates else 48_000
        stream = container.add_stream(codec_name, rate=out_rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        sample_formats = codec.audio_formats or []
        resampler = av.AudioResampler(format=sample_formats[0].name, layout=layout, rate=out_rate)
        interleaved = np.repeat(samples[:, None], channels, axis=1).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(interleaved, dtype=np.float32), format="flt", layout=layout
        )
        frame.sample_rate = rate_hz
        for piece in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(piece):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
