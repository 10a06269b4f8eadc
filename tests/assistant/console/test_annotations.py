"""Tags, notes, corrections on a real migrated catalog, and the NLU export checked against the project's data/nlu."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, insert

from assistant.console.annotations import (
    AnnotationError,
    Annotations,
    domain_intents,
    example_text,
    existing_examples,
    normalise_tag,
)
from assistant.settings import PROJECT_ROOT
from catalog.db import make_engine
from catalog.migrate import upgrade
from catalog.models import StaffAccountRow

DOMAIN = PROJECT_ROOT / "domain.yml"
NLU_DIR = PROJECT_ROOT / "data" / "nlu"
SID = "web-abc123"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(StaffAccountRow).values(
                id=1, username="sam", display_name="Sam <b>", password_hash="x", role="agent", disabled=False,
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )  # fmt: skip
    yield engine
    engine.dispose()


@pytest.fixture
def notes(engine: Engine) -> Annotations:
    return Annotations(engine, domain_intents(DOMAIN), nlu_dir=NLU_DIR)


def test_domain_intents_reads_the_project_domain() -> None:
    intents = domain_intents(DOMAIN)
    assert {"greet", "search_products", "check_stock", "delete_my_data"} <= intents
    assert "nlu_fallback" not in intents


def test_domain_intents_handles_dict_entries_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "domain"
    folder.mkdir()
    (folder / "a.yml").write_text("intents:\n  - greet\n  - ask_x:\n      use_entities: []\n", encoding="utf-8")
    (folder / "b.yml").write_text("intents: [bye]\nresponses: {}\n", encoding="utf-8")
    assert domain_intents(folder) == {"greet", "ask_x", "bye"}
    with pytest.raises(AnnotationError, match="no Rasa domain"):
        domain_intents(tmp_path / "missing.yml")


def test_tags_are_normalised_idempotent_and_removable(notes: Annotations) -> None:
    notes.add_tag(SID, " Late Delivery ", 1)
    notes.add_tag(SID, "late-delivery", 1)
    notes.add_tag(SID, "vip", 1)
    notes.add_tag("web-other", "vip", 1)
    assert notes.tags(SID) == ["late-delivery", "vip"]
    notes.remove_tag(SID, "LATE delivery")
    assert notes.tags(SID) == ["vip"]
    assert notes.tags("web-other") == ["vip"]
    for bad in ["", "   ", "<script>", "x" * 41, "a;b"]:
        with pytest.raises(AnnotationError):
            notes.add_tag(SID, bad, 1)
    assert normalise_tag("Größe_XL") == "größe_xl"


def test_notes_keep_text_as_written_with_author(notes: Annotations) -> None:
    first = notes.add_note(SID, "  Called back <script>alert(1)</script>  ", 1)
    notes.add_note(SID, "second", 99)
    got = notes.notes(SID)
    assert [n.body for n in got] == ["Called back <script>alert(1)</script>", "second"]
    assert got[0] == first and got[0].author == "Sam <b>"  # escaping is the template's job, the data stays exact
    assert got[1].author is None
    assert notes.notes("web-other") == []
    with pytest.raises(AnnotationError, match="empty"):
        notes.add_note(SID, " \n ", 1)
    with pytest.raises(AnnotationError, match="at most"):
        notes.add_note(SID, "x" * 4001, 1)


def test_corrections_check_the_intent_and_replace_per_message(notes: Annotations) -> None:
    with pytest.raises(AnnotationError, match="not an intent of the domain"):
        notes.add_correction(SID, 7, "where is my parcel", "greet", "track_parcel", 1)
    with pytest.raises(AnnotationError, match="no text"):
        notes.add_correction(SID, 7, "  ", "greet", "order_status", 1)
    notes.add_correction(SID, 7, "where is\nmy parcel", "greet", "check_stock", 1)
    again = notes.add_correction(SID, 7, "where is my parcel", "greet", "order_status", 1)
    assert again.text == "where is my parcel"
    notes.add_correction("web-other", 3, "hiya there mate", None, "greet", 1)
    assert [(c.sender_id, c.correct_intent) for c in notes.corrections()] == [
        (SID, "order_status"),
        ("web-other", "greet"),
    ]
    assert [c.event_id for c in notes.corrections(SID)] == [7]


def test_existing_examples_strip_entity_markup() -> None:
    found = existing_examples(NLU_DIR)
    assert "identify_customer" in found["my customer number is 17850"]
    assert found["hello"] == {"greet"} or "greet" in found["hello"]


def test_export_is_valid_rasa_nlu_and_skips_conflicts(notes: Annotations) -> None:
    notes.add_correction(SID, 1, "any chance the lantern ships by friday", "check_stock", "delivery_options", 1)
    notes.add_correction(SID, 2, "Good Morning", "chitchat", "search_products", 1)  # a greet example already
    notes.add_correction(SID, 3, "hello", "chitchat", "greet", 1)  # already there under the same intent
    notes.add_correction(SID, 4, "see [this](product) one", None, "product_details", 1)
    notes.add_correction(SID, 5, '/share_photo{"image_id": "abc"}', None, "share_photo", 1)
    notes.add_correction(SID, 6, "is my\tbasket   saved\u2028ok", "greet", "view_cart", 1)
    notes.add_correction("web-b", 9, "any chance the lantern ships by Friday", None, "order_status", 1)  # later wins
    notes.add_correction(SID, 8, "# not a comment: keep #hash & 'quotes': \"yes\"", None, "chitchat", 1)
    exported = notes.export_nlu_yaml()
    data = yaml.safe_load(exported)
    assert data["version"] == "3.1"
    examples = {item["intent"]: item["examples"] for item in data["nlu"]}
    assert examples == {
        "chitchat": "- # not a comment: keep #hash & 'quotes': \"yes\"\n",
        "order_status": "- any chance the lantern ships by Friday\n",
        "view_cart": "- is my basket saved ok\n",
    }
    header = [line for line in exported.splitlines() if line.startswith("#")]
    assert any('"Good Morning": already an example of greet in data/nlu' in line for line in header)
    assert any('"hello": already an example of greet in data/nlu' in line for line in header)
    assert any("entity markup" in line for line in header)
    assert any("/command" in line for line in header)
    assert "3 examples, 4 skipped" in exported
    assert set(examples) <= domain_intents(DOMAIN)


def test_export_with_nothing_to_export_is_still_valid(notes: Annotations) -> None:
    data = yaml.safe_load(notes.export_nlu_yaml())
    assert data == {"version": "3.1", "nlu": []}


def test_example_text_collapses_line_breaks_and_controls() -> None:
    assert example_text("a\r\nb\x00c\u2029 d\ufeff") == "a bc d"
