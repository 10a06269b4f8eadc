"""The vision error tree: callers catch `VisionError` (or one of its kinds) and answer with a clear message."""

from __future__ import annotations


class VisionError(Exception):
    """Base of every error raised by `retrieval.vision`."""


class VisionUnavailable(VisionError):
    """The image model or an artifact it needs is missing or broken; the message says how to fix it."""


class InvalidImage(VisionError):
    """The bytes are not an image this system accepts; the message is safe to show to a shopper."""


class ImageTooLarge(InvalidImage):
    """Too many bytes or too many pixels (a decompression bomb)."""


class UploadNotFound(VisionError):
    """No stored upload has this id for this sender (unknown, malformed, expired or someone else's)."""


class InvalidTrainingData(VisionError):
    """A training folder does not have the expected layout (one sub-folder of images per category)."""
