"""Image files for the upload rules: real photos from scikit-image's sample data, and the bad or unusual files the
gateway must refuse or handle (each made here byte by byte, so the tests need no files in the repository)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image
from skimage import data


def coffee() -> Image.Image:
    """A real photo: a cup of coffee on a saucer (scikit-image sample data, public domain)."""
    return Image.fromarray(data.coffee())


def chelsea() -> Image.Image:
    """A real photo of a cat (scikit-image sample data)."""
    return Image.fromarray(data.chelsea())


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def coffee_jpeg() -> bytes:
    return encode(coffee(), "JPEG", quality=90)


def rotated_jpeg() -> bytes:
    """The coffee photo as a phone stores a portrait shot: pixels turned 90° counter-clockwise and EXIF orientation 6
    ("turn 90° clockwise to view"), plus a GPS position that must not survive the re-encoding."""
    sideways = coffee().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}
    return encode(sideways, "JPEG", exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    return encode(coffee().convert("CMYK"), "JPEG")


def png_16bit() -> bytes:
    grey = np.asarray(coffee().convert("L"), dtype=np.uint16) * 257  # full 16-bit range
    return encode(Image.fromarray(grey), "PNG")


def animated_png() -> bytes:
    frames = [coffee(), chelsea().resize(coffee().size)]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_webp() -> bytes:
    frames = [coffee(), chelsea().resize(coffee().size)]
    return encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)


def truncated_jpeg() -> bytes:
    whole = coffee_jpeg()
    return whole[: len(whole) // 2]


def corrupt_jpeg() -> bytes:
    """A JPEG whose Huffman table segment is garbage (libjpeg cannot decode it)."""
    whole = bytearray(coffee_jpeg())
    start = whole.index(b"\xff\xc4") + 4
    whole[start : start + 40] = b"\xff" * 40
    return bytes(whole)


def scrambled_jpeg() -> bytes:
    """A JPEG whose compressed pixel data is partly overwritten: libjpeg recovers and decodes a damaged picture."""
    whole = bytearray(coffee_jpeg())
    start = whole.index(b"\xff\xda") + 20
    whole[start : start + 4000] = bytes(range(256)) * 15 + bytes(160)
    return bytes(whole)


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid greyscale PNG of width × height black pixels: ~400 KB on the wire, 400 MB decoded."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0 + zero pixels
    parts = [compressor.compress(row * 100) for _ in range(height // 100)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def gif() -> bytes:
    return encode(coffee(), "GIF")


def polyglot_html_jpeg() -> bytes:
    """HTML first, a real JPEG after it: browsers may sniff HTML, so it must not pass as an image."""
    return HTML + coffee_jpeg()


def polyglot_jpeg_zip() -> bytes:
    """A real JPEG with a ZIP archive appended (a classic polyglot): accepted, but only the pixels survive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.sh", "#!/bin/sh\necho owned\n")
    return coffee_jpeg() + buffer.getvalue()
