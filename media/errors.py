"""Typed errors raised by the media readers when a file cannot be used as a video or audio source."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EmptyFileError", "MediaError", "NoAudioStreamError", "NoVideoStreamError", "NotAVideoError"]


class MediaError(Exception):
    """A media file that cannot be read as asked; ``str()`` is ``"<path>: <reason>"``.

    Attributes:
        path: The file that was being read.
        reason: What was wrong with it, in words.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Default pickling would call cls(message) and fail; worker processes send these errors back to the parent.
        return type(self), (self.path, self.reason)


class EmptyFileError(MediaError):
    """The file has zero bytes."""


class NotAVideoError(MediaError):
    """Unreadable, not a video, truncated beyond use, or a container/codec the decoder does not support."""


class NoVideoStreamError(MediaError):
    """The file is valid media but holds no video stream (for example an audio-only .wav or .m4a)."""


class NoAudioStreamError(MediaError):
    """The file holds no audio stream."""
