"""The handoff queue over the shop's `handoffs` table: waiting → taken (one agent) → closed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from assistant.console.handoffs import STAFF_REASON, HandoffConflict, HandoffQueue
from catalog.shop import HandoffReason, ShopService


def test_a_waiting_conversation_is_taken_and_handed_back(catalog_engine: Engine) -> None:
    shop, queue = ShopService(catalog_engine), HandoffQueue(catalog_engine)
    shop.request_handoff("web-a", "rest", HandoffReason.ASKED)
    shop.request_handoff("tg-b", "telegram", HandoffReason.COMPLAINT)
    assert [(h.sender_id, h.status) for h in queue.open()] == [("web-a", "waiting"), ("tg-b", "waiting")]

    taken = queue.take("tg-b", "sam")
    assert (taken.status, taken.taken_by, taken.channel, taken.reason) == ("taken", "sam", "telegram", "complaint")
    assert taken.taken_at is not None
    assert queue.take("tg-b", "sam") == taken  # taking it again changes nothing
    assert queue.current("tg-b") == taken
    assert shop.handoff_status("tg-b") == "taken"

    with pytest.raises(HandoffConflict, match="sam is already talking"):
        queue.take("tg-b", "ana")
    with pytest.raises(HandoffConflict, match="sam"):
        queue.release("tg-b", "ana")

    closed = queue.release("tg-b", "sam")
    assert closed is not None and closed.status == "closed" and closed.id == taken.id
    assert queue.current("tg-b") is None
    assert queue.release("tg-b", "sam") is None
    assert [h.sender_id for h in queue.open()] == ["web-a"]


def test_taking_over_a_conversation_nobody_queued(catalog_engine: Engine) -> None:
    queue, shop = HandoffQueue(catalog_engine), ShopService(catalog_engine)
    taken = queue.take("web-c", "ana", channel="rest")
    assert (taken.status, taken.taken_by, taken.reason) == ("taken", "ana", STAFF_REASON)
    assert STAFF_REASON in {r.value for r in HandoffReason}
    # the shopper asking for a person meanwhile does not queue it twice, and reading it back works
    again = shop.request_handoff("web-c", "rest", HandoffReason.ASKED)
    assert again.already_requested and again.status == "taken"
    assert len(queue.open()) == 1


def test_an_admin_can_force_a_handback_and_waiting_requests_can_be_dismissed(catalog_engine: Engine) -> None:
    queue, shop = HandoffQueue(catalog_engine), ShopService(catalog_engine)
    queue.take("web-d", "sam")
    closed = queue.release("web-d", "ana", force=True)
    assert closed is not None and closed.status == "closed"
    shop.request_handoff("web-e", "rest", HandoffReason.ASKED)
    dismissed = queue.release("web-e", "ana")
    assert dismissed is not None and dismissed.status == "closed" and dismissed.taken_by is None
    with catalog_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM handoffs WHERE closed_at IS NULL")).scalar_one() == 0


def test_a_lost_race_leaves_the_first_agent_in_charge(catalog_engine: Engine) -> None:
    queue = HandoffQueue(catalog_engine)
    with catalog_engine.begin() as conn:  # another agent's row appeared between our read and our insert
        conn.execute(
            text(
                "INSERT INTO handoffs (sender_id, channel, reason, status, requested_at, taken_by, taken_at) "
                "VALUES ('web-f', 'rest', 'asked', 'taken', '2026-11-30 09:00:00', 'sam', '2026-11-30 09:00:00')"
            )
        )
    with pytest.raises(HandoffConflict, match="sam"):
        queue.take("web-f", "ana")
    with catalog_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM handoffs")).scalar_one() == 1


@pytest.mark.parametrize(("sender_id", "agent"), [("", "sam"), ("web-a", " "), ("web-a", None)])
def test_empty_ids_are_refused(catalog_engine: Engine, sender_id: str, agent: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        HandoffQueue(catalog_engine).take(sender_id, agent)
