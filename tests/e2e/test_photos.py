"""End to end: a real photo through the upload endpoint, Rasa and the image model; then "is it in stock?"."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from assistant.stack import Stack
from tests.e2e.test_flows import say
from tests.retrieval.vision.images import chelsea, coffee, encode

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def upload(stack: Stack, sender: str, photo: bytes, filename: str = "photo.jpg") -> tuple[int, dict[str, Any]]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="sender_id"\r\n\r\n{sender}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{filename}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.settings.gateway_port}/api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_coffee_photo_finds_cups_and_the_next_question_is_about_them(stack: Stack) -> None:
    me = uuid.uuid4().hex
    status, body = upload(stack, me, encode(coffee(), "JPEG"))
    assert status == 200, body
    texts = " ".join(str(m.get("text") or "") for m in body["messages"])
    cards = [p for m in body["messages"] if m["type"] == "product_cards" for p in m["products"]]
    assert "looks like" in texts and cards, body
    assert any(w in c["title"] for c in cards for w in ("CUP", "MUG", "SAUCER")), cards
    answer = say(stack, me, "is the first one in stock?")  # "the first one" is the photo's first card
    assert f"[{cards[0]['sku']}]" in answer and "stock" in answer, answer


def test_a_cat_photo_is_answered_honestly_and_a_non_image_is_refused(stack: Stack) -> None:
    status, body = upload(stack, uuid.uuid4().hex, encode(chelsea(), "JPEG"))
    assert status == 200 and "nothing we sell" in json.dumps(body), body
    status, body = upload(stack, uuid.uuid4().hex, b"<html><script>alert(1)</script></html>")
    assert status == 415, body
