"""The sources API: email tools connected by the merchant, and which of them refuse every delivery."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from integration.settings import Settings
from integration.store import session_scope
from tests.support.builders import bearer, make_store
from tests.support.sendgrid import DER_B64, SENDGRID_EVENTS, keyless_sendgrid_source, signed_headers


def test_sources_are_made_listed_and_say_when_they_refuse_deliveries(
    client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    source_id, account_id = keyless_sendgrid_source(settings)  # made before a key was required
    with session_scope(settings.database_url) as session:
        headers = bearer(session, account_id)
        stranger = bearer(session, make_store(session).account_id)

    [old] = client.get("/api/v1/sources", headers=headers).get_json()["sources"]
    assert (old["id"], old["kind"], old["signed"], old["accepts_deliveries"]) == (
        source_id,
        "sendgrid",
        False,
        False,
    )
    assert "no verification key" in old["problem"]
    assert old["url"] == f"{settings.app_url}/webhooks/email/sendgrid/{source_id}"
    assert client.post(old["url"].removeprefix(settings.app_url), data=SENDGRID_EVENTS).status_code == 401

    refused = client.post("/api/v1/sources", json={"kind": "sendgrid"}, headers=headers)
    assert (refused.status_code, refused.get_json()["code"]) == (422, "invalid_verification_key")
    garbled = client.post(
        "/api/v1/sources", json={"kind": "sendgrid", "verification_key": "not a key"}, headers=headers
    )
    assert (garbled.status_code, garbled.get_json()["code"]) == (422, "invalid_verification_key")
    made = client.post(
        "/api/v1/sources",
        json={"kind": "sendgrid", "name": "Newsletters", "verification_key": DER_B64},
        headers=headers,
    )
    assert made.status_code == 201
    assert (made.get_json()["signed"], made.get_json()["accepts_deliveries"]) == (True, True)

    mailchimp = client.post("/api/v1/sources", json={"kind": "mailchimp"}, headers=headers).get_json()
    secret = mailchimp["url"].rsplit("/", 1)[1]
    assert len(secret) >= 24  # the secret itself, shown this once
    listed = {s["id"]: s for s in client.get("/api/v1/sources", headers=headers).get_json()["sources"]}
    assert listed[mailchimp["id"]]["url"].endswith("/{secret}")
    assert secret not in str(listed)
    assert list(listed) == [source_id, made.get_json()["id"], mailchimp["id"]]

    # Another account neither sees nor keys them.
    assert client.get("/api/v1/sources", headers=stranger).get_json() == {"sources": []}
    key = {"verification_key": DER_B64}
    assert (
        client.put(f"/api/v1/sources/{source_id}/verification-key", json=key, headers=stranger).status_code
        == 404
    )

    bad = client.put(
        f"/api/v1/sources/{source_id}/verification-key", json={"verification_key": "x"}, headers=headers
    )
    assert bad.status_code == 422
    keyed = client.put(f"/api/v1/sources/{source_id}/verification-key", json=key, headers=headers)
    assert keyed.status_code == 200
    assert (keyed.get_json()["accepts_deliveries"], keyed.get_json()["problem"]) == (True, None)
    path = f"/webhooks/email/sendgrid/{source_id}"
    assert client.post(path, data=SENDGRID_EVENTS, headers=signed_headers(SENDGRID_EVENTS)).status_code == 200
    assert (
        client.put(
            f"/api/v1/sources/{mailchimp['id']}/verification-key", json=key, headers=headers
        ).status_code
        == 422
    )  # Mailchimp signs nothing
