"""Which audio container an upload is, from its first bytes (never from its name)."""

from __future__ import annotations

SNIFF_BYTES = 4096  # how much of the file's start sniff_format needs

# format -> the extension a stored recording of it gets
EXTENSIONS: dict[str, str] = {
    "wav": "wav",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "ogg",
    "webm": "webm",
    "mp4": "m4a",
    "aiff": "aiff",
    "caf": "caf",
}

# ISO BMFF brands of still images (HEIF/AVIF photos): an ftyp box, but no audio in them.
_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"

# MPEG audio Layer III: kbit/s by bitrate index, and Hz by sample rate index, per version.
_MPEG1_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def sniff_format(head: bytes) -> str | None:
    """The container format of a file starting with `head` (up to SNIFF_BYTES), or None.

    None means "not audio we take": text, images, archives, unknown or empty data. A file
    that sniffs as audio can still fail to decode; the decoder has the last word.
    """
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == _EBML_MAGIC:
        return "webm"  # WebM and Matroska (.mka/.mkv) alike
    if head[4:8] == b"ftyp" and head[8:12] not in _IMAGE_BRANDS:
        return "mp4"  # MP4/M4A/3GP/QuickTime: AAC or ALAC from phones and browsers
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"caff":
        return "caf"
    if head[:3] == b"ID3":
        return _after_id3(head)
    if _mpeg_frames_at(head, 0):
        return "mp3"
    return None


def _after_id3(head: bytes) -> str | None:
    """An ID3v2 tag starts most MP3s (and a few FLACs); look past it if it fits in `head`."""
    if len(head) < 10 or head[3] not in (2, 3, 4) or head[5] & 0x0F:
        return None  # not a version-2.2-2.4 tag header (text that starts with "ID3")
    size = 0
    for byte in head[6:10]:
        if byte & 0x80:
            return None  # sizes are "syncsafe": 7 bits a byte
        size = size << 7 | byte
    body = 10 + size + (10 if head[5] & 0x10 else 0)  # flag 0x10: a footer follows
    if body + 4 > len(head):
        return "mp3"  # a big tag (cover art) hides what follows: it is nearly always MP3
    if head[body : body + 4] == b"fLaC":
        return "flac"
    # Encoders pad after the tag; the first frame may come a little later.
    sync = head.find(b"\xff", body)
    return "mp3" if sync >= 0 and _mpeg_frames_at(head, sync) else None


def _mpeg_frames_at(head: bytes, offset: int) -> bool:
    """True if a Layer III frame header starts at offset (and the next one too, if in head)."""
    length = _frame_length(head, offset)
    if length is None:
        return False
    following = offset + length
    if length == 0 or following + 4 > len(head):
        return True  # free-format bitrate, or the next header is beyond what we were given
    return _frame_length(head, following) is not None


def _frame_length(head: bytes, offset: int) -> int | None:
    """Bytes in the MPEG Layer III frame whose header is at offset; 0 if free format."""
    if offset + 4 > len(head) or head[offset] != 0xFF:
        return None
    b1, b2 = head[offset + 1], head[offset + 2]
    version, layer = (b1 >> 3) & 0b11, (b1 >> 1) & 0b11
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 0b11
    if b1 & 0xE0 != 0xE0 or version == 1 or layer != 0b01:
        return None
    if bitrate_index == 15 or rate_index == 3:
        return None
    rate_hz = _RATES_HZ[version][rate_index]
    kbps = (_MPEG1_KBPS if version == 3 else _MPEG2_KBPS)[bitrate_index]
    padding = (b2 >> 1) & 1
    per_frame = 144_000 if version == 3 else 72_000
    return per_frame * kbps // rate_hz + padding if kbps else 0
