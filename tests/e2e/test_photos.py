"""End to end: a real photo through the upload endpoint, Rasa and the image model; then "is it in stock?"."""

from __future__ import annotations

import json
import urllib.error
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Shopper
from tests.e2e.test_chat import NewShopper
from tests.e2e.test_flows import say
from tests.retrieval.vision.images import chelsea, coffee, encode

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def upload(shopper: Shopper, photo: bytes, filename: str = "photo.jpg") -> tuple[int, dict[str, Any]]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{filename}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return shopper.request("/api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def test_a_coffee_photo_finds_cups_and_the_next_question_is_about_them(new_shopper: NewShopper) -> None:
    me = new_shopper()
    status, body = upload(me, encode(coffee(), "JPEG"))
    assert status == 200, body
    texts = " ".join(str(m.get("text") or "") for m in body["messages"])
    cards = [p for m in body["messages"] if m["type"] == "product_cards" for p in m["products"]]
    assert "looks like" in texts and cards, body
    assert any(w in c["title"] for c in cards for w in ("CUP", "MUG", "SAUCER")), cards
    answer = say(me, "is the first one in stock?")  # "the first one" is the photo's first card
    assert f"[{cards[0]['sku']}]" in answer and "stock" in answer, answer
    history = me.request("/api/history")[1]["messages"]
    assert {"type": "photo", "url": f"/api/uploads/{body['image_id']}", "from": "user"} in history
    assert not any("share_photo" in json.dumps(item) for item in history)  # the command never shows
    with me.opener.open(f"{me.base_url}/api/uploads/{body['image_id']}", timeout=30) as photo:
        assert photo.headers["Content-Type"] == "image/jpeg" and photo.read(3) == b"\xff\xd8\xff"


def test_a_photo_is_shown_to_its_owner_only(new_shopper: NewShopper) -> None:
    me, someone = new_shopper(), new_shopper()
    status, body = upload(me, encode(coffee(), "JPEG"))
    assert status == 200, body
    try:
        someone.opener.open(f"{someone.base_url}/api/uploads/{body['image_id']}", timeout=30)
        raise AssertionError("another shopper could open the photo")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404


def test_a_cat_photo_is_answered_honestly_and_a_non_image_is_refused(new_shopper: NewShopper) -> None:
    status, body = upload(new_shopper(), encode(chelsea(), "JPEG"))
    assert status == 200 and "nothing we sell" in json.dumps(body), body
    status, body = upload(new_shopper(), b"<html><script>alert(1)</script></html>")
    assert status == 415, body
