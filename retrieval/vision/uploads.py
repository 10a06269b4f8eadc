"""Shoppers' photos: checked and cleaned from untrusted bytes, stored under a random id bound to the sender.

`sanitise_image` is the one door for uploaded bytes. It trusts nothing the file says about itself beyond what Pillow
must read to decode it:

- the real format comes from the leading bytes (JPEG, PNG or WebP only; a `.jpg` name or a Content-Type means
  nothing): SVG, HTML, PDF, GIF, polyglots that do not start as one of the three are refused;
- the pixel count is checked from the header *before* decoding, so a 20,000 × 20,000 PNG (a few hundred KB on the
  wire, 1.2 GB decoded) is refused without allocating it (decompression bombs);
- the image is fully decoded, so truncated and corrupt files are refused instead of half-read;
- the EXIF orientation is applied; CMYK, 16-bit, palette, alpha and grey images become 8-bit RGB; an animated
  image keeps its first frame;
- the result is re-encoded as a fresh JPEG, which drops every metadata block (EXIF with GPS, XMP, ICC, comments) and
  anything hidden after the image data.

`UploadStore` keeps the cleaned JPEG as `<id>.jpg` with a `<id>.json` naming the sender, in a folder that is never
served. Ids are 128-bit random hex: unguessable, and checked against the sender on every read.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from retrieval.vision.errors import ImageTooLarge, InvalidImage, UploadNotFound

ALLOWED = ("JPEG", "PNG", "WEBP")
ALLOWED_TEXT = "JPEG, PNG or WebP"
IMAGE_ID = re.compile(r"[0-9a-f]{32}")
STORED_MAX_SIDE = 1600
"""Stored photos are scaled down to this longest side: plenty for the classifier (260 px) and for staff."""
JPEG_QUALITY = 90


def sniff_format(data: bytes) -> str | None:
    """'JPEG', 'PNG' or 'WEBP' from the file's first bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any decoded mode → 8-bit RGB (16-bit scaled, not clipped; transparency over white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        pixels = np.asarray(image, dtype=np.uint32)
        top = 65535 if image.mode.startswith("I;16") or pixels.max() > 255 else 255
        return Image.fromarray((pixels * 255 // top).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float32))
        span = float(pixels.max() - pixels.min()) or 1.0
        return Image.fromarray(((pixels - pixels.min()) * 255 / span).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def sanitise_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode untrusted bytes into a clean, upright 8-bit RGB image. Raises `InvalidImage` / `ImageTooLarge` with a
    message that can be shown to the shopper."""
    if not data:
        raise InvalidImage("The file is empty. Choose a photo (JPEG, PNG or WebP) and try again.")
    kind = sniff_format(data)
    if kind is None:
        raise InvalidImage(f"That file is not a photo this shop accepts. Send a {ALLOWED_TEXT} image.")
    try:
        # Image.open reads only the header; Pillow itself refuses > 2 × MAX_IMAGE_PIXELS there (DecompressionBombError)
        image = Image.open(io.BytesIO(data), formats=[kind])
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImage("The image has no pixels. Send another photo.")
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"The image is {width} × {height} pixels; the limit is {max_pixels / 1_000_000:g} megapixels. "
                "Send a smaller photo."
            )
        if getattr(image, "is_animated", False):
            image.seek(0)  # an animation is matched by its first frame
        image.load()
        upright = ImageOps.exif_transpose(image)
        rgb = _to_rgb(upright)
    except (ImageTooLarge, InvalidImage):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(
            f"The image has too many pixels; the limit is {max_pixels / 1_000_000:g} megapixels. Send a smaller photo."
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage(
            "The photo could not be read (the file looks damaged or incomplete). Send it again."
        ) from exc
    rgb.thumbnail((STORED_MAX_SIDE, STORED_MAX_SIDE), Image.Resampling.LANCZOS)
    return rgb


@dataclass(frozen=True)
class StoredUpload:
    image_id: str
    sender_id: str
    path: Path
    width: int
    height: int
    created_at: str


class UploadStore:
    """Cleaned uploads under random ids in `folder` (created on first save), each bound to one sender."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def save(self, image: Image.Image, sender_id: str) -> StoredUpload:
        """Re-encode `image` as JPEG (no metadata) under a new random id; returns what was stored."""
        self.folder.mkdir(parents=True, exist_ok=True)
        image_id = secrets.token_hex(16)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        path = self.folder / f"{image_id}.jpg"
        created = datetime.now(UTC).isoformat(timespec="seconds")
        meta = {"sender_id": sender_id, "created_at": created, "width": image.width, "height": image.height}
        _write_atomic(path, buffer.getvalue())
        _write_atomic(self.folder / f"{image_id}.json", json.dumps(meta).encode("utf-8"))
        return StoredUpload(image_id, sender_id, path, image.width, image.height, created)

    def find(self, image_id: str, sender_id: str) -> StoredUpload:
        """The upload `image_id` of `sender_id`. Raises `UploadNotFound` for a malformed, unknown or foreign id."""
        if not isinstance(image_id, str) or not IMAGE_ID.fullmatch(image_id):
            raise UploadNotFound(f"{image_id!r} is not an upload id")
        path = self.folder / f"{image_id}.jpg"
        try:
            meta = json.loads((self.folder / f"{image_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UploadNotFound(f"no upload {image_id}") from exc
        if meta.get("sender_id") != sender_id or not path.is_file():
            raise UploadNotFound(f"no upload {image_id} for this sender")
        return StoredUpload(image_id, sender_id, path, int(meta["width"]), int(meta["height"]), str(meta["created_at"]))

    def erase_sender(self, sender_id: str) -> int:
        """Delete every upload of `sender_id` (the image and its metadata); returns how many were deleted."""
        if not self.folder.is_dir():
            return 0
        erased = 0
        for meta_path in self.folder.glob("*.json"):
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if meta.get("sender_id") == sender_id:
                meta_path.with_suffix(".jpg").unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
                erased += 1
        return erased

    def open(self, image_id: str, sender_id: str) -> Image.Image:
        """The stored RGB image (it was cleaned on upload). Raises `UploadNotFound`."""
        stored = self.find(image_id, sender_id)
        try:
            with Image.open(stored.path, formats=["JPEG"]) as image:
                return image.convert("RGB")
        except OSError as exc:
            raise UploadNotFound(f"upload {image_id} is unreadable: {exc}") from exc


def _write_atomic(path: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
