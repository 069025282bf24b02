"""Where audio files live: uploads, recordings and chunk files under one root, generated names only.

    ROOT/uploads/<uuid>.part                  an upload being received (deleted or moved on)
    ROOT/recordings/<uuid>.<ext>              a stored recording (recordings.storage_name)
    ROOT/chunks/<recording id>/<generation>/  one processing run's chunk files; the chunk rows
                                              name them "<recording id>/<generation>/0001.flac"

Nothing a client sends becomes part of a path: every name here is made by voicepipe, and names
read back from the database are checked to stay under the root.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from voicepipe.errors import InvalidInput

_RECORDING_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{1,5}$")
_CHUNK_NAME = re.compile(r"^\d+/[0-9a-z_-]{1,64}/\d{4,6}\.(flac|wav)$")
_GENERATION = re.compile(r"^[0-9a-z_-]{1,64}$")


class Storage:
    """The storage directory; creates its folders on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads_dir = root / "uploads"
        self.recordings_dir = root / "recordings"
        self.chunks_dir = root / "chunks"

    def new_upload_path(self) -> Path:
        """A fresh temporary path for an upload being received."""
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        return self.uploads_dir / f"{uuid.uuid4().hex}.part"

    @staticmethod
    def new_recording_name(extension: str) -> str:
        name = f"{uuid.uuid4().hex}.{extension}"
        if not _RECORDING_NAME.match(name):
            raise InvalidInput(f"bad recording file extension {extension!r}")
        return name

    def recording_path(self, storage_name: str) -> Path:
        if not _RECORDING_NAME.match(storage_name):
            raise InvalidInput(f"not a recording storage name: {storage_name!r}")
        return self.recordings_dir / storage_name

    def keep_upload(self, upload: Path, storage_name: str) -> Path:
        """Move a received upload to its place as a recording (same filesystem: a rename)."""
        target = self.recording_path(storage_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        upload.replace(target)
        return target

    def recording_chunks_dir(self, recording_id: int) -> Path:
        return self.chunks_dir / str(int(recording_id))

    def generation_dir(self, recording_id: int, generation: str) -> Path:
        """The folder one processing run writes its chunk files into."""
        if not _GENERATION.match(generation):
            raise InvalidInput(f"bad chunk generation {generation!r}")
        return self.recording_chunks_dir(recording_id) / generation

    @staticmethod
    def chunk_name(recording_id: int, generation: str, file_name: str) -> str:
        name = f"{int(recording_id)}/{generation}/{file_name}"
        if not _CHUNK_NAME.match(name):
            raise InvalidInput(f"not a chunk storage name: {name!r}")
        return name

    def chunk_path(self, storage_name: str) -> Path:
        if not _CHUNK_NAME.match(storage_name):
            raise InvalidInput(f"not a chunk storage name: {storage_name!r}")
        return self.chunks_dir / storage_name

    def remove_recording_files(self, storage_name: str, recording_id: int) -> None:
        """Delete a recording's file and every chunk file of it (missing ones are fine)."""
        self.recording_path(storage_name).unlink(missing_ok=True)
        shutil.rmtree(self.recording_chunks_dir(recording_id), ignore_errors=True)

    def remove_other_generations(self, recording_id: int, keep: str) -> int:
        """Delete the chunk folders of a recording's earlier runs; returns how many."""
        removed = 0
        parent = self.recording_chunks_dir(recording_id)
        if not parent.is_dir():
            return 0
        for folder in parent.iterdir():
            if folder.name != keep:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed
