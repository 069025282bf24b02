"""Audio adapters: decoding any upload to 16 kHz mono, chunking files, exporting chunks."""

from voicepipe.audio.chunker import Analysis, analyse_file, chunk_file
from voicepipe.audio.decode import probe_duration_s, stream_mono_16k
from voicepipe.audio.errors import (
    AudioError,
    BadAudioError,
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    SilentAudioError,
    TransientAudioError,
    TruncatedAudioError,
)
from voicepipe.audio.export import export_chunks

__all__ = [
    "Analysis",
    "AudioError",
    "BadAudioError",
    "CorruptAudioError",
    "EmptyAudioError",
    "NotAudioError",
    "SilentAudioError",
    "TransientAudioError",
    "TruncatedAudioError",
    "analyse_file",
    "chunk_file",
    "export_chunks",
    "probe_duration_s",
    "stream_mono_16k",
]
