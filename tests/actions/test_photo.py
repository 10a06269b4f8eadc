"""`action_photo_search`: the uploaded photo's id → the sender's own photo → matches in words and product cards."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from rasa_sdk.executor import CollectingDispatcher

from actions.photo import ActionPhotoSearch, image_id, in_words
from catalog.types import Product
from retrieval.errors import RetrievalUnavailable
from retrieval.search import SearchHit
from retrieval.vision.labels import Label
from retrieval.vision.photo_search import PhotoMatch
from retrieval.vision.uploads import UploadStore
from tests.actions.conftest import make_tracker
from tests.retrieval.vision import images

MUGS = [
    Product(1, "37370", "RETRO COFFEE MUGS ASSORTED", Decimal("1.25")),
    Product(2, "21068", "VINTAGE BILLBOARD LOVE/HATE MUG", Decimal("1.25")),
]
APPLE = Product(2, "GS001", "Granny Smith apple", Decimal("0"))


class FixedPhotoSearch:
    """Answers every photo with the same match, and records the photos it saw."""

    def __init__(self, match: PhotoMatch) -> None:
        self.match = match
        self.seen: list[Image.Image] = []

    def search(self, image: Image.Image, k: int = 5) -> PhotoMatch:
        self.seen.append(image)
        return PhotoMatch(self.match.labels, self.match.looks_like, self.match.hits[:k], self.match.search_phrase)


class BrokenPhotoSearch:
    def search(self, image: Image.Image, k: int = 5) -> PhotoMatch:
        raise RetrievalUnavailable("index missing")


MUG_MATCH = PhotoMatch([Label(504, "coffee mug", 0.8)], "coffee mug", [SearchHit(p, 0.9) for p in MUGS], "mug")


@pytest.fixture
def uploads(tmp_path: Path) -> UploadStore:
    return UploadStore(tmp_path / "uploads")


def photo_tracker(image: str, sender: str = "shopper", channel: str = "rest") -> object:
    entity = {"entity": "image_id", "value": image}
    return make_tracker(
        f'/share_photo{{"image_id": "{image}"}}', [entity], channel, intent="share_photo", sender_id=sender
    )


async def run(action: ActionPhotoSearch, tracker: object) -> tuple[CollectingDispatcher, dict[str, object]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain={})  # type: ignore[arg-type]
    return dispatcher, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_a_photo_gets_the_label_in_words_and_product_cards(uploads: UploadStore) -> None:
    stored = uploads.save(images.coffee(), "shopper")
    search = FixedPhotoSearch(MUG_MATCH)
    dispatcher, slots = await run(ActionPhotoSearch(search, uploads, top_k=5), photo_tracker(stored.image_id))
    assert dispatcher.messages[0]["response"] == "utter_photo_results"
    assert dispatcher.messages[0]["looks_like"] == "a coffee mug"
    cards = dispatcher.messages[1]["custom"]
    assert [p["sku"] for p in cards["products"]] == ["37370", "21068"] and cards["products"][0]["price"] == "1.25"
    assert slots["shown_products"] == ["37370", "21068"] and slots["last_query"] == "mug"
    assert search.seen[0].size == (600, 400)  # the stored photo itself was classified


async def test_channels_without_cards_get_text_lines(uploads: UploadStore) -> None:
    stored = uploads.save(images.coffee(), "shopper")
    action = ActionPhotoSearch(FixedPhotoSearch(MUG_MATCH), uploads, top_k=5)
    dispatcher, _ = await run(action, photo_tracker(stored.image_id, channel="cmdline"))
    assert dispatcher.messages[0]["response"] == "utter_photo_results_text"
    assert "Retro Coffee Mugs Assorted — £1.25 (item 37370)" in dispatcher.messages[0]["result_lines"]


async def test_products_without_a_price_show_price_on_request(uploads: UploadStore) -> None:
    stored = uploads.save(images.coffee(), "shopper")
    match = PhotoMatch([], "Granny Smith apple", [SearchHit(APPLE, 0.7)])
    dispatcher, _ = await run(ActionPhotoSearch(FixedPhotoSearch(match), uploads), photo_tracker(stored.image_id))
    assert dispatcher.messages[0]["looks_like"] == "a Granny Smith apple"
    assert dispatcher.messages[1]["custom"]["products"][0]["price"] == "price on request"


async def test_nothing_we_sell_is_said_honestly(uploads: UploadStore) -> None:
    stored = uploads.save(images.chelsea(), "shopper")
    cat = PhotoMatch([Label(285, "Egyptian Mau", 0.6)], "Egyptian Mau", [])
    dispatcher, slots = await run(ActionPhotoSearch(FixedPhotoSearch(cat), uploads), photo_tracker(stored.image_id))
    assert [m["response"] for m in dispatcher.messages] == ["utter_photo_no_match"]
    assert dispatcher.messages[0]["looks_like"] == "an Egyptian Mau" and slots == {"shown_products": []}
    unsure = PhotoMatch([Label(1, "goldfish", 0.1)], None, [])
    dispatcher, _ = await run(ActionPhotoSearch(FixedPhotoSearch(unsure), uploads), photo_tracker(stored.image_id))
    assert [m["response"] for m in dispatcher.messages] == ["utter_photo_not_recognised"]


async def test_someone_elses_or_unknown_photo_is_refused_without_classifying(uploads: UploadStore) -> None:
    stored = uploads.save(images.coffee(), "alice")
    search = FixedPhotoSearch(MUG_MATCH)
    for tracker in (photo_tracker(stored.image_id, sender="mallory"), photo_tracker("f" * 32), photo_tracker("../x")):
        dispatcher, slots = await run(ActionPhotoSearch(search, uploads), tracker)
        assert [m["response"] for m in dispatcher.messages] == ["utter_photo_not_found"]
        assert slots == {"image_id": None}
    assert search.seen == []


async def test_no_photo_id_asks_for_the_photo(uploads: UploadStore) -> None:
    tracker = make_tracker("do you have this?", intent="share_photo")
    dispatcher, _ = await run(ActionPhotoSearch(FixedPhotoSearch(MUG_MATCH), uploads), tracker)
    assert [m["response"] for m in dispatcher.messages] == ["utter_photo_ask"]


async def test_a_broken_photo_search_is_reported(uploads: UploadStore) -> None:
    stored = uploads.save(images.coffee(), "shopper")
    dispatcher, _ = await run(ActionPhotoSearch(BrokenPhotoSearch(), uploads), photo_tracker(stored.image_id))
    assert [m["response"] for m in dispatcher.messages] == ["utter_photo_unavailable"]


def test_the_id_comes_from_the_entity_then_the_slot() -> None:
    assert image_id(photo_tracker("a" * 32)) == "a" * 32  # type: ignore[arg-type]
    assert image_id(make_tracker("hi", slots={"image_id": "b" * 32})) == "b" * 32
    assert image_id(make_tracker("hi")) is None
    assert in_words("apple") == "an apple" and in_words("mug") == "a mug"
