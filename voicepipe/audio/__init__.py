"""Audio adapters: sniffing and decoding uploads, chunking, quality, exporting chunks."""

from voicepipe.audio.chunker import Analysis, analyse_file, chunk_file
from voicepipe.audio.decode import probe_duration_s, stream_mono_16k
from voicepipe.audio.errors import (
    AudioError,
    BadAudioError,
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    SilentAudioError,
    TooShortAudioError,
    TransientAudioError,
    TruncatedAudioError,
)
from voicepipe.audio.export import export_chunks
from voicepipe.audio.pipeline import (
    ChunkAnalysis,
    RecordingAnalysis,
    analyse_recording,
    export_recording,
    warm_up,
)
from voicepipe.audio.sniff import EXTENSIONS, SNIFF_BYTES, sniff_format

__all__ = [
    "EXTENSIONS",
    "SNIFF_BYTES",
    "Analysis",
    "AudioError",
    "BadAudioError",
    "ChunkAnalysis",
    "CorruptAudioError",
    "EmptyAudioError",
    "NotAudioError",
    "RecordingAnalysis",
    "SilentAudioError",
    "TooShortAudioError",
    "TransientAudioError",
    "TruncatedAudioError",
    "analyse_file",
    "analyse_recording",
    "chunk_file",
    "export_chunks",
    "export_recording",
    "probe_duration_s",
    "sniff_format",
    "stream_mono_16k",
    "warm_up",
]
