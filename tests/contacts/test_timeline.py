"""A contact's activity timeline: every kind of entry, its order, keyset pages and its bounds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from integration.contacts.timeline import KINDS, MAX_LIMIT, encode, timeline
from integration.keyset import BadCursor
from integration.keyset import encode as list_cursor
from integration.store import session_scope
from integration.store.models import Contact
from integration.store.types import utcnow
from tests.support.activity import START, contact_of, record_everything, shop


def _all_pages(session: Any, account_id: int, contact_id: int, limit: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = timeline(session, account_id, contact_id, limit=limit, cursor=cursor)
        assert page is not None
        assert len(page["entries"]) <= limit
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries
    raise AssertionError("the pages never ended")


def test_every_kind_appears_newest_first_with_its_facts(db_url: str) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        count = record_everything(session, here, here.contact_id)
        page = timeline(session, here.account_id, here.contact_id)
    assert page is not None
    assert page["next_cursor"] is None
    entries = page["entries"]
    assert len(entries) == count
    assert sorted(e["kind"] for e in entries) == sorted(KINDS)
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    by_kind = {e["kind"]: e for e in entries}
    assert by_kind["order_placed"]["at"] == START.isoformat()
    placed = by_kind["order_placed"]
    assert (placed["amount"], placed["currency"], placed["order_name"]) == (
        "59.80",
        "EUR",
        f"#10{here.contact_id}",
    )
    assert by_kind["order_refunded"]["amount"] == "19.90"
    assert by_kind["order_refunded"]["order_id"] == placed["order_id"]
    assert by_kind["cart_recovered"]["order_id"] == placed["order_id"]
    assert by_kind["cart_abandoned"]["amount"] == "29.90"
    assert by_kind["campaign_sent"]["campaign_name"] == f"Winter sale {here.contact_id}"
    assert by_kind["campaign_returned"]["channel"] == "letter"
    assert by_kind["qr_scan"]["campaign_name"] == f"Catalogue {here.contact_id}"
    assert by_kind["email_click"]["campaign_id"] == by_kind["campaign_sent"]["campaign_id"]
    assert by_kind["add_to_cart"]["product_id"] == "p-7"
    assert (by_kind["subscription_changed"]["from"], by_kind["subscription_changed"]["to"]) == (
        "unknown",
        "subscribed",
    )
    assert by_kind["subscription_changed"]["reason"] == "signup_form"
    assert (by_kind["engagement_changed"]["from"], by_kind["engagement_changed"]["to"]) == (
        "unengaged",
        "engaged",
    )
    assert by_kind["segment_entered"]["segment_name"] == f"VIP {here.contact_id}"
    assert by_kind["segment_left"]["reason"] == "edited"


def test_entries_at_one_time_are_ordered_by_kind_then_newest_row(db_url: str) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        record_everything(session, here, here.contact_id, step=timedelta(0))
        record_everything(session, here, here.contact_id, step=timedelta(0), label="b")  # every kind twice
        page = timeline(session, here.account_id, here.contact_id, limit=MAX_LIMIT)
    assert page is not None
    kinds = [e["kind"] for e in page["entries"]]
    assert kinds == [kind for kind in KINDS for _ in range(2)]
    placed = [e["order_id"] for e in page["entries"] if e["kind"] == "order_placed"]
    assert placed == sorted(placed, reverse=True)


@pytest.mark.parametrize("step", [timedelta(minutes=7), timedelta(0)])
@pytest.mark.parametrize("limit", [1, 2, 5, 17])
def test_pages_have_no_gaps_or_repeats(db_url: str, step: timedelta, limit: int) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        record_everything(session, here, here.contact_id, step=step)
        record_everything(
            session, here, here.contact_id, start=START + timedelta(minutes=3), step=step, label="b"
        )
        whole = timeline(session, here.account_id, here.contact_id, limit=MAX_LIMIT)
        paged = _all_pages(session, here.account_id, here.contact_id, limit)
    assert whole is not None
    assert len(whole["entries"]) == 36
    assert paged == whole["entries"]


def test_other_contacts_and_accounts_never_show(db_url: str) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        neighbour = contact_of(session, here, "neighbour@example.com")
        record_everything(session, here, neighbour)
        elsewhere = shop(session, "Other shop")
        record_everything(session, elsewhere, elsewhere.contact_id)
        mine = timeline(session, here.account_id, here.contact_id)
        # Another account's contact does not exist for this account, and the reverse.
        assert timeline(session, here.account_id, elsewhere.contact_id) is None
        assert timeline(session, elsewhere.account_id, neighbour) is None
        theirs = timeline(session, here.account_id, neighbour)
    assert mine == {"entries": [], "next_cursor": None}
    assert theirs is not None
    assert len(theirs["entries"]) == 18
    assert {e["campaign_name"] for e in theirs["entries"] if e["campaign_name"]} == {
        f"Winter sale {neighbour}",
        f"Catalogue {neighbour}",
    }


def test_deleted_rows_and_deleted_contacts_are_left_out(db_url: str) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        record_everything(session, here, here.contact_id)
        page = timeline(session, here.account_id, here.contact_id)
        assert page is not None
        assert "1.00" not in {e["amount"] for e in page["entries"]}  # the deleted order
        assert "5.00" not in {e["amount"] for e in page["entries"]}  # the deleted cart
        contact = session.get(Contact, here.contact_id)
        assert contact is not None
        contact.deleted_at = utcnow()
        session.flush()
        assert timeline(session, here.account_id, here.contact_id) is None


def test_a_contact_without_activity_has_an_empty_timeline(db_url: str) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        assert timeline(session, here.account_id, here.contact_id) == {"entries": [], "next_cursor": None}


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "",
        list_cursor(START, 5),  # a cursor of another list
        encode(START, "order_shipped", 5),
        encode(START, "order_placed", -1),
        encode(START.replace(tzinfo=None), "order_placed", 5),
    ],
)
def test_a_cursor_it_did_not_give_out_is_refused(db_url: str, cursor: str) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        with pytest.raises(BadCursor):
            timeline(session, here.account_id, here.contact_id, cursor=cursor)


@pytest.mark.parametrize("limit", [0, MAX_LIMIT + 1])
def test_a_page_size_out_of_range_is_refused(db_url: str, limit: int) -> None:
    with session_scope(db_url) as session:
        here = shop(session)
        with pytest.raises(ValueError, match="limit"):
            timeline(session, here.account_id, here.contact_id, limit=limit)
