"""Errors of reading audio files; BadAudioError and its subclasses are permanent (no retry).

AudioError(TaskError)
├── TransientAudioError            the file could not be read now; a retry may succeed
└── BadAudioError(PermanentTaskError)  the file itself is unusable
    ├── NotAudioError              not a media file, or one with no audio stream
    ├── EmptyAudioError            an audio file with no samples
    ├── TruncatedAudioError        ends before the length its header announces
    ├── CorruptAudioError          the decoder rejects its data
    ├── SilentAudioError           decodes fine but holds no speech-level sound
    └── TooShortAudioError         shorter than the shortest chunk
"""

from __future__ import annotations

from voicepipe.errors import PermanentTaskError, TaskError


class AudioError(TaskError):
    """Base of errors raised while reading a recording."""


class TransientAudioError(AudioError):
    """Reading failed for a reason outside the file (I/O error); worth retrying."""


class BadAudioError(AudioError, PermanentTaskError):
    """The file cannot be used as a recording; retrying will give the same answer."""


class NotAudioError(BadAudioError):
    """The file is not a media file we can open, or has no audio stream."""


class EmptyAudioError(BadAudioError):
    """The file is audio but holds no samples."""


class TruncatedAudioError(BadAudioError):
    """The file stops before the duration its header announces (an interrupted upload)."""


class CorruptAudioError(BadAudioError):
    """The decoder rejected the data part way through."""


class SilentAudioError(BadAudioError):
    """The recording decodes but contains no speech-level sound."""


class TooShortAudioError(BadAudioError):
    """The recording is shorter than the shortest chunk it could be cut into."""
