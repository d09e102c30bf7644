"""The API source's record shapes: valid records load, invalid ones say which field and why."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.api.schemas import SCHEMAS
from connectors.api.source import load_records
from integration.errors import InvalidRecord
from integration.store.models import CampaignChannel, InteractionType

ORDER = {
    "id": "1001",
    "customer_id": "c1",
    "created_at": "2026-03-31T23:30:00+02:00",
    "updated_at": "2026-03-31T23:31:00+02:00",
    "currency": "EUR",
    "total_price": "34.80",
    "line_items": [{"title": "Shirt", "quantity": 1, "price": "29.90", "product_id": "p1"}],
}


def test_an_order_loads_with_utc_times_and_exact_money() -> None:
    record = SCHEMAS["orders"].load(ORDER)
    assert record.created_at == datetime(2026, 3, 31, 21, 30, tzinfo=UTC)
    assert record.total_price == Decimal("34.80")
    assert record.line_items[0].unit_price == Decimal("29.90")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"created_at": "2026-03-31T23:30:00"}, "created_at"),  # no time zone: refused, not guessed
        ({"currency": "eur"}, "currency"),
        ({"total_price": "-1"}, "total_price"),
        ({"total_price": "NaN"}, "total_price"),
        ({"customer_id": None}, "customer_id"),
        ({"line_items": [{"title": "Shirt", "quantity": 0, "price": "1"}]}, "line_items"),
        ({"discount_codes": []}, "discount_codes"),
    ],
)
def test_an_invalid_order_names_the_field(change: dict[str, object], field: str) -> None:
    records, errors = load_records("orders", [{**ORDER, **change}])
    assert records == []
    assert errors[0]["index"] == 0
    assert field in errors[0]["errors"]


def test_bounces_and_machine_opens_map_to_interaction_types() -> None:
    base = {"email": "a@example.com", "occurred_at": "2026-01-01T00:00:00Z"}
    hard = SCHEMAS["events"].load({**base, "type": "bounce", "bounce_type": "hard"})
    machine = SCHEMAS["events"].load({**base, "type": "email_open", "machine_open": True})
    assert hard.type == InteractionType.HARD_BOUNCE
    assert (machine.type, machine.machine_open) == (InteractionType.EMAIL_OPEN, True)
    _, errors = load_records(
        "events", [{**base, "type": "bounce"}, {**base, "type": "email_click", "machine_open": True}]
    )
    assert [list(e["errors"]) for e in errors] == [["bounce_type"], ["machine_open"]]


def test_a_letter_campaign_carries_its_pdf() -> None:
    pdf = b"%PDF-1.4 letter"
    record = SCHEMAS["campaigns"].load(
        {
            "id": "spring",
            "channel": "letter",
            "name": "Spring",
            "preview_pdf_base64": base64.b64encode(pdf).decode(),
        }
    )
    assert (record.channel, record.preview, record.preview_content_type) == (
        CampaignChannel.LETTER,
        pdf,
        "application/pdf",
    )


@pytest.mark.parametrize(("topic", "body"), [("orders", {"id": 1}), ("refunds", []), ("orders", [{}] * 1001)])
def test_a_batch_that_is_not_a_batch_is_refused_whole(topic: str, body: object) -> None:
    with pytest.raises(InvalidRecord):
        load_records(topic, body)


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(list(ORDER) + ["extra"]),
            st.one_of(
                st.none(), st.text(max_size=30), st.integers(), st.booleans(), st.just("2026-01-01T00:00:00Z")
            ),
        ),
        max_size=5,
    )
)
def test_any_json_record_is_either_loaded_or_reported(items: list[dict[str, object]]) -> None:
    records, errors = load_records("orders", items)
    assert len(records) + len(errors) == len(items)
    assert all(isinstance(e["index"], int) and e["errors"] for e in errors)


def test_a_nul_character_anywhere_refuses_the_record() -> None:
    records, errors = load_records(
        "customers",
        [
            {"id": "1", "updated_at": "2026-01-01T00:00:00Z", "\x00": None},
            {"id": "2", "first_name": "A\x00", "updated_at": "2026-01-01T00:00:00Z"},
        ],
    )
    assert records == []
    assert [e["errors"] for e in errors] == [{"_schema": ["contains a NUL (U+0000) character"]}] * 2
