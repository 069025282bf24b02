"""analyse_recording and export_recording on espeak-ng speech, and on files that are not usable."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.speech import SpeechFixture, build_recording
from voicepipe.audio import (
    BadAudioError,
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    SilentAudioError,
    TooShortAudioError,
    TransientAudioError,
    TruncatedAudioError,
    analyse_recording,
    chunk_file,
    export_recording,
    warm_up,
)
from voicepipe.domain.chunking import ChunkingConfig
from voicepipe.domain.quality import QualityThresholds, quality_flags
from voicepipe.settings import Settings

CONFIG = ChunkingConfig(min_s=1.0, max_s=6.0)


def _default_thresholds() -> QualityThresholds:
    """The VOICEPIPE_QUALITY_* defaults, whatever the environment of the test run says."""
    fields = Settings.model_fields
    return QualityThresholds(
        **{name: fields[f"quality_{name}"].default for name in QualityThresholds.model_fields}
    )


def _write(path: Path, samples: np.ndarray, rate_hz: int) -> Path:
    sf.write(path, samples, rate_hz, subtype="PCM_16")
    return path


def test_analysis_of_speech_cuts_in_pauses_and_measures_every_chunk(
    clean_speech: SpeechFixture, tmp_path: Path
) -> None:
    warm_up()
    path = clean_speech.write(tmp_path / "speech.wav", channels=2)
    analysis = analyse_recording(path, CONFIG)
    assert (analysis.sample_rate_hz, analysis.channels, analysis.detector) == (22_050, 2, "energy")
    assert analysis.duration_s == pytest.approx(clean_speech.duration_s, abs=0.01)
    assert len(analysis.chunks) >= 2
    assert [c.position for c in analysis.chunks] == list(range(1, len(analysis.chunks) + 1))
    for chunk in analysis.chunks:
        assert 1.0 <= chunk.end_s - chunk.start_s <= 6.0
        assert not any(
            a < edge < b
            for a, b in clean_speech.speech_spans_s
            for edge in (chunk.start_s, chunk.end_s)
        )
        assert chunk.quality.speech_dbfs == pytest.approx(analysis.quality.speech_dbfs, abs=3.0)
        assert chunk.quality.speech_ratio > analysis.quality.speech_ratio * 0.8
    q = analysis.quality
    assert -30 < q.speech_dbfs < -20  # espeak at half scale
    assert q.snr_db > 40 and q.clipping_ratio == 0.0 and 0.5 < q.speech_ratio < 0.95
    assert quality_flags(q, _default_thresholds()) == []
    assert pickle.loads(pickle.dumps(analysis)) == analysis  # it crosses the CPU pool's pipe
    plan = chunk_file(path, CONFIG)  # the CLI's chunker: the same cuts from the same detector
    assert [(c.start_s, c.end_s, c.forced_cut) for c in plan.chunks] == [
        (c.start_s, c.end_s, c.forced_cut) for c in analysis.chunks
    ]


def test_export_writes_one_16k_mono_flac_per_chunk(
    clean_speech: SpeechFixture, tmp_path: Path
) -> None:
    path = clean_speech.write(tmp_path / "speech.wav", channels=2)
    analysis = analyse_recording(path, CONFIG)
    out_dir = tmp_path / "chunks" / "gen-1"
    names = export_recording(path, analysis, out_dir)
    assert names == [f"{k:04d}.flac" for k in range(1, len(analysis.chunks) + 1)]
    assert sorted(p.name for p in out_dir.iterdir()) == names  # no scratch folder left behind
    for name, chunk in zip(names, analysis.chunks, strict=True):
        info = sf.info(out_dir / name)
        assert (info.format, info.samplerate, info.channels) == ("FLAC", 16_000, 1)
        assert info.frames == round(chunk.end_s * 16_000) - round(chunk.start_s * 16_000)
    # A rerun into the same folder replaces the files rather than failing or duplicating.
    assert export_recording(path, analysis, out_dir) == names
    assert sorted(p.name for p in out_dir.iterdir()) == names


def test_export_that_fails_leaves_no_chunk_files(
    clean_speech: SpeechFixture, tmp_path: Path
) -> None:
    path = clean_speech.write(tmp_path / "speech.wav")
    analysis = analyse_recording(path, CONFIG)
    cut = clean_speech.samples[: clean_speech.sample_rate_hz * 2]
    _write(path, cut, clean_speech.sample_rate_hz)  # the file changed since it was analysed
    out_dir = tmp_path / "out"
    with pytest.raises(CorruptAudioError, match="shorter than when it was analysed"):
        export_recording(path, analysis, out_dir)
    assert list(out_dir.iterdir()) == []


def test_default_thresholds_flag_quiet_clipped_and_noisy_speech(
    clean_speech: SpeechFixture, espeak_cache: Path, tmp_path: Path
) -> None:
    x, rate = clean_speech.samples, clean_speech.sample_rate_hz
    speech = np.concatenate(
        [x[int(a * rate) : int(b * rate)] for a, b in clean_speech.speech_spans_s]
    )
    to_45_dbfs = 10 ** ((-45 - 10 * np.log10(np.mean(speech**2))) / 20)
    noisy = build_recording("white_0db", espeak_cache, 12, 5, (0.5, 1.2), "white", 0.0)
    cases = {
        "quiet": (x * to_45_dbfs, rate, ["speech is quiet"]),
        "clipped": (np.clip(x * 10, -1, 1), rate, ["clipped"]),
        # white noise as loud as the speech: below the SNR floor, and noise-like through and through
        "noisy": (noisy.samples, noisy.sample_rate_hz, ["noisy", "noise-like speech"]),
    }
    thresholds = _default_thresholds()
    for name, (samples, rate_hz, reason) in cases.items():
        analysis = analyse_recording(_write(tmp_path / f"{name}.wav", samples, rate_hz), CONFIG)
        flags = quality_flags(analysis.quality, thresholds)
        assert [f.split(":")[0] for f in flags] == reason, (name, flags)


def test_clipping_is_measured_through_resampling(tmp_path: Path) -> None:
    rate = 44_100
    t = np.arange(3 * rate) / rate
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    envelope = (np.sin(2 * np.pi * 0.5 * t) > 0).astype(np.float64)  # 1 s on, 1 s off
    clipped = np.clip(voiced * envelope, -1, 1)
    share = float(np.mean(np.abs(clipped) >= 0.999))
    assert 0.1 < share < 0.3
    analysis = analyse_recording(_write(tmp_path / "clipped.wav", clipped, rate), CONFIG)
    assert analysis.quality.clipping_ratio == pytest.approx(share, rel=0.3)


def test_a_recording_shorter_than_the_shortest_chunk(tmp_path: Path) -> None:
    t = np.arange(8_000) / 16_000
    path = _write(tmp_path / "short.wav", 0.3 * np.sin(2 * np.pi * 300 * t), 16_000)
    with pytest.raises(TooShortAudioError) as caught:
        analyse_recording(path, CONFIG)
    assert str(caught.value) == "short.wav: 0.5 s long; the shortest chunk is 1.0 s"
    assert isinstance(caught.value, BadAudioError)
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is TooShortAudioError and str(again) == str(caught.value)


def _text(path: Path) -> Path:
    path.write_text("not audio, only a name that says so\n" * 40)
    return path


def _empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _no_samples(path: Path) -> Path:
    return _write(path, np.zeros(0, np.float32), 16_000)


def _silent(path: Path) -> Path:
    return _write(path, np.zeros(3 * 16_000, np.float32), 16_000)


def _truncated_flac(path: Path) -> Path:
    path = path.with_suffix(".flac")
    rng = np.random.default_rng(1)
    sf.write(path, (rng.standard_normal(5 * 16_000) * 0.1).astype(np.float32), 16_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (_text, NotAudioError),
        (_empty_file, NotAudioError),
        (_no_samples, EmptyAudioError),
        (_silent, SilentAudioError),
        (_truncated_flac, TruncatedAudioError),
    ],
    ids=lambda value: getattr(value, "__name__", "").strip("_"),
)
def test_unusable_files_raise_permanent_errors(
    tmp_path: Path, make: Callable[[Path], Path], error: type[BadAudioError]
) -> None:
    path = make(tmp_path / "upload.wav")
    with pytest.raises(error) as caught:
        analyse_recording(path, CONFIG)
    assert isinstance(caught.value, BadAudioError)
    assert str(caught.value).startswith(path.name + ": ")


def test_a_missing_file_is_transient(tmp_path: Path) -> None:
    with pytest.raises(TransientAudioError):
        analyse_recording(tmp_path / "gone.wav", CONFIG)


def test_samples_that_are_not_numbers_are_corrupt_audio(tmp_path: Path) -> None:
    samples = np.full(3 * 16_000, 0.1, np.float32)
    samples[20_000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, samples, 16_000, subtype="FLOAT")
    with pytest.raises(CorruptAudioError, match=r"^nan\.wav: .*not numbers"):
        analyse_recording(path, CONFIG)
