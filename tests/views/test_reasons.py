"""The API's reasons for refusing a field: English for programs, the page's language for the admin."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from integration.web.views.reasons import translated


def test_programs_read_the_reasons_in_english(client: FlaskClient, api_shop: dict[str, Any]) -> None:
    refused = client.put("/api/v1/settings", json={"engagement_window_days": 0}, headers=api_shop["headers"])
    assert refused.status_code == 422
    assert refused.get_json()["details"]["json"]["engagement_window_days"][0].startswith("Must be greater")


@pytest.mark.parametrize(
    ("locale", "reason"),
    [
        ("pl", "Podaj liczbę od 7 do 730."),
        ("es", "Escribe un número de 7 a 730."),
        ("en", "Enter a number from 7 to 730."),
    ],
)
def test_a_page_reads_them_in_its_language(
    client: FlaskClient, api_shop: dict[str, Any], locale: str, reason: str
) -> None:
    headers = {**api_shop["headers"], "X-Storepulse-Locale": locale}
    refused = client.put(
        "/api/v1/settings", json={"engagement_window_days": 0, "time_zone": "Mars/Olympus"}, headers=headers
    )
    details = refused.get_json()["details"]["json"]
    assert details["engagement_window_days"] == [reason]
    zone = details["time_zone"][0]
    assert not zone.startswith("unknown time zone")  # our own reasons are translated too
    assert zone.startswith({"pl": "Podaj", "es": "Escribe", "en": "Enter"}[locale])


def test_unknown_reasons_stay_as_they_are(app: Any) -> None:
    with app.test_request_context(headers={"X-Storepulse-Locale": "pl"}):
        assert translated({"json": {"x": ["Something else."]}}) == {"json": {"x": ["Something else."]}}
        assert translated(["Missing data for required field."]) == ["Wymagane."]
