"""The upload rules on real and hostile files: what is refused, what is repaired, what is stored and for whom."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.vision.errors import ImageTooLarge, InvalidImage, UploadNotFound
from retrieval.vision.uploads import UploadStore, sanitise_image, sniff_format
from tests.retrieval.vision import images

MAX_PIXELS = 40_000_000


def similar(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two RGB images of the same size, 0..255."""
    assert a.size == b.size
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b.convert("RGB"), np.int16)).mean())


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (images.coffee_jpeg(), "JPEG"),
        (images.png_16bit(), "PNG"),
        (images.animated_webp(), "WEBP"),
        (images.SVG, None),
        (images.HTML, None),
        (images.PDF, None),
        (images.gif(), None),
        (images.polyglot_html_jpeg(), None),
        (b"", None),
    ],
)
def test_the_format_comes_from_the_bytes(data: bytes, kind: str | None) -> None:
    assert sniff_format(data) == kind


@pytest.mark.parametrize(
    "data",
    [images.SVG, images.HTML, images.PDF, images.gif(), images.polyglot_html_jpeg(), b"just text renamed .jpg"],
    ids=["svg", "html", "pdf", "gif", "html-then-jpeg", "text"],
)
def test_non_images_and_other_formats_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidImage, match="JPEG, PNG or WebP"):
        sanitise_image(data, MAX_PIXELS)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(InvalidImage, match="empty"):
        sanitise_image(b"", MAX_PIXELS)


@pytest.mark.parametrize("data", [images.truncated_jpeg(), images.corrupt_jpeg()], ids=["truncated", "corrupt"])
def test_truncated_and_corrupt_jpegs_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidImage, match="damaged or incomplete"):
        sanitise_image(data, MAX_PIXELS)


def test_a_jpeg_with_scrambled_pixel_data_decodes_to_a_plain_rgb_image() -> None:
    image = sanitise_image(images.scrambled_jpeg(), MAX_PIXELS)  # the decoder recovers: a damaged but safe picture
    assert image.mode == "RGB" and image.size == (600, 400)


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding() -> None:
    bomb = images.png_bomb()
    assert len(bomb) < 2_000_000  # small on the wire ...
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge, match="megapixels"):
            sanitise_image(bomb, MAX_PIXELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # ... and never decoded: 400 MB of pixels would show here


def test_an_image_just_over_the_pixel_limit_is_refused() -> None:
    data = images.encode(images.coffee(), "PNG")  # 600 × 400 = 240,000 pixels
    with pytest.raises(ImageTooLarge):
        sanitise_image(data, 200_000)
    assert sanitise_image(data, 240_000).size == (600, 400)


def test_exif_rotation_is_applied_and_metadata_is_dropped(tmp_path: Path) -> None:
    upright = sanitise_image(images.rotated_jpeg(), MAX_PIXELS)
    assert upright.size == images.coffee().size
    assert similar(upright, images.coffee()) < 6  # the right way up (turned the wrong way it would be ~60)
    stored = UploadStore(tmp_path).save(upright, "shopper-1")
    with Image.open(stored.path) as saved:
        assert saved.format == "JPEG"
        assert not saved.getexif()
        assert "exif" not in saved.info and "icc_profile" not in saved.info
    assert b"PhoneMaker" not in stored.path.read_bytes()


def test_cmyk_becomes_rgb() -> None:
    image = sanitise_image(images.cmyk_jpeg(), MAX_PIXELS)
    assert image.mode == "RGB"
    assert similar(image, images.coffee()) < 12


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    image = sanitise_image(images.png_16bit(), MAX_PIXELS)
    grey = images.coffee().convert("L").convert("RGB")
    assert image.mode == "RGB" and similar(image, grey) < 2  # clipping would turn almost everything white


@pytest.mark.parametrize("data", [images.animated_png(), images.animated_webp()], ids=["apng", "webp"])
def test_animated_images_keep_their_first_frame(data: bytes) -> None:
    image = sanitise_image(data, MAX_PIXELS)
    assert image.mode == "RGB" and not getattr(image, "is_animated", False)
    assert similar(image, images.coffee()) < 12


def test_a_jpeg_zip_polyglot_keeps_only_the_pixels(tmp_path: Path) -> None:
    stored = UploadStore(tmp_path).save(sanitise_image(images.polyglot_jpeg_zip(), MAX_PIXELS), "s")
    assert b"PK\x03\x04" not in stored.path.read_bytes() and b"echo owned" not in stored.path.read_bytes()


def test_large_photos_are_stored_scaled_down(tmp_path: Path) -> None:
    big = images.encode(images.coffee().resize((3000, 2000)), "JPEG")
    stored = UploadStore(tmp_path).save(sanitise_image(big, MAX_PIXELS), "s")
    assert (stored.width, stored.height) == (1600, 1067)


def test_uploads_are_bound_to_their_sender(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    stored = store.save(images.coffee(), "alice")
    assert len(stored.image_id) == 32 and stored.path.parent == tmp_path / "uploads"
    assert store.open(stored.image_id, "alice").size == (600, 400)
    with pytest.raises(UploadNotFound):
        store.open(stored.image_id, "mallory")
    for forged in ("../" + stored.image_id, stored.image_id.upper(), "0" * 32, "", "x" * 1000):
        with pytest.raises(UploadNotFound):
            store.open(forged, "alice")
    other = store.save(images.coffee(), "alice")
    assert other.image_id != stored.image_id


def test_a_missing_image_file_is_not_found(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    stored = store.save(images.coffee(), "alice")
    stored.path.unlink()
    with pytest.raises(UploadNotFound):
        store.open(stored.image_id, "alice")


def test_sanitised_images_are_plain_rgb_from_every_mode() -> None:
    for mode in ("L", "LA", "RGBA", "P", "1", "I;16"):
        converted = images.coffee().convert("L" if mode == "I;16" else mode)
        if mode == "I;16":
            converted = Image.fromarray(np.asarray(converted, dtype=np.uint16) * 257)
        buffer = io.BytesIO()
        converted.save(buffer, format="PNG")
        assert sanitise_image(buffer.getvalue(), MAX_PIXELS).mode == "RGB", mode
