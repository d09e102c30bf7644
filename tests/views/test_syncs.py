"""The syncs API: destinations with hidden credentials, syncs, dry runs, runs through a real worker."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Destination, SubscriptionStatus
from integration.web.app import create_app
from jobs.queues import SYNC, queue
from jobs.sync import sync_all_job
from tests.support.builders import bearer, make_store
from tests.support.mailchimp import BATCH, KEY, LIST, TAG, TAGS, batch_answer, tag_answer
from tests.support.syncs import PUBLIC_ADDRESS, Audience, set_contact

# The contacts of `audience_shop`.
pytestmark = pytest.mark.audience(40, unsubscribed=1)


@pytest.fixture
def headers(settings: Settings, audience_shop: Audience) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        return bearer(session, audience_shop.account_id)


def mailchimp(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> Any:
    body = {
        "kind": "mailchimp",
        "name": "Newsletter",
        "config": {"list_id": LIST},
        "credentials": {"api_key": KEY},
    }
    return client.post("/api/v1/destinations", json={**body, **overrides}, headers=headers)


def mock_mailchimp() -> None:
    responses.post(TAGS, json={"id": 77, "name": "storepulse:everybody"})
    responses.add_callback(responses.POST, BATCH, callback=batch_answer)
    responses.add_callback(responses.POST, TAG, callback=tag_answer)


def test_destinations_keep_credentials_encrypted_and_check_what_each_kind_needs(
    client: FlaskClient, settings: Settings, audience_shop: Audience, headers: dict[str, str]
) -> None:
    created = mailchimp(client, headers)
    assert created.status_code == 201
    answer = created.get_json()
    assert answer["has_credentials"] is True
    assert KEY not in json.dumps(answer)
    with session_scope(settings.database_url) as session:
        stored = session.get(Destination, answer["id"])
        assert stored is not None
        assert stored.credentials is not None
        assert KEY.encode() not in stored.credentials
    listed = client.get("/api/v1/destinations", headers=headers).get_json()["destinations"]
    assert [d["id"] for d in listed] == [answer["id"]]
    assert KEY not in json.dumps(listed)

    bad_key = mailchimp(client, headers, credentials={"api_key": "no-data-center"})
    assert bad_key.status_code == 422
    assert bad_key.get_json()["code"] == "invalid_credentials"
    no_list = mailchimp(client, headers, config={})
    assert no_list.status_code == 422
    assert "list_id" in json.dumps(no_list.get_json()["details"])
    webhook = {
        "kind": "webhook",
        "name": "CRM",
        "config": {"url": "not a url"},
        "credentials": {"secret": "s" * 20},
    }
    assert client.post("/api/v1/destinations", json=webhook, headers=headers).status_code == 422
    not_shopify = {"kind": "shopify", "name": "Tags", "config": {"store_id": audience_shop.store_id}}
    refused = client.post("/api/v1/destinations", json=not_shopify, headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "invalid_store"

    body = {"segment_id": audience_shop.segment_id, "destination_id": answer["id"], "mode": "audience"}
    sync_id = client.post("/api/v1/syncs", json=body, headers=headers).get_json()["id"]
    with session_scope(settings.database_url) as session:
        other = bearer(session, make_store(session).account_id)
    # Another account's key reaches none of it, and cannot point a sync at it.
    assert client.get(f"/api/v1/destinations/{answer['id']}", headers=other).status_code == 404
    assert (
        client.patch(f"/api/v1/destinations/{answer['id']}", json={"name": "x"}, headers=other).status_code
        == 404
    )
    for path in (f"/api/v1/syncs/{sync_id}/preview", f"/api/v1/syncs/{sync_id}/runs"):
        assert client.post(path, headers=other).status_code == 404
    assert client.get(f"/api/v1/syncs/{sync_id}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/syncs/{sync_id}", headers=other).status_code == 404
    assert client.post("/api/v1/syncs", json=body, headers=other).status_code == 404
    assert client.get("/api/v1/syncs", headers=other).get_json() == {"syncs": []}
    assert client.get(f"/api/v1/syncs/{sync_id}", headers=headers).status_code == 200


@responses.activate
def test_a_sync_runs_through_the_worker_and_its_dry_run_matches_what_the_next_run_sends(
    client: FlaskClient, settings: Settings, audience_shop: Audience, headers: dict[str, str], run_worker: Any
) -> None:
    mock_mailchimp()
    destination = mailchimp(client, headers).get_json()
    wrong_mode = {"segment_id": audience_shop.segment_id, "destination_id": destination["id"], "mode": "tags"}
    assert client.post("/api/v1/syncs", json=wrong_mode, headers=headers).status_code == 422
    body = {**wrong_mode, "mode": "audience", "start": True}
    created = client.post("/api/v1/syncs", json=body, headers=headers)
    assert created.status_code == 201
    sync_id = created.get_json()["id"]
    assert created.get_json()["tag"] == "storepulse:everybody"
    assert client.post("/api/v1/syncs", json=body, headers=headers).status_code == 409

    preview = client.post(f"/api/v1/syncs/{sync_id}/preview", headers=headers).get_json()
    assert (preview["adds"], preview["removes"]) == (40, 0)
    assert len(preview["sample"]["adds"]) == 10
    run_worker()  # the first run was queued when the sync was made (started)
    detail = client.get(f"/api/v1/syncs/{sync_id}", headers=headers).get_json()
    assert (detail["status"], detail["delivered"], detail["failing"]) == ("idle", 40, 0)
    assert detail["last_run"]["adds"] == preview["adds"]

    set_contact(
        settings,
        audience_shop.contact_ids["person2@example.com"],
        subscription_status=SubscriptionStatus.UNSUBSCRIBED,
    )
    set_contact(settings, audience_shop.contact_ids["person3@example.com"], last_name="Married")
    preview = client.post(f"/api/v1/syncs/{sync_id}/preview", headers=headers).get_json()
    assert client.post(f"/api/v1/syncs/{sync_id}/runs", headers=headers).status_code == 202
    run_worker()
    [latest, first] = client.get(f"/api/v1/syncs/{sync_id}/runs", headers=headers).get_json()["runs"]
    assert (latest["adds"], latest["updates"], latest["removes"]) == (
        preview["adds"],
        preview["updates"],
        preview["removes"],
    )
    assert (latest["updates"], latest["removes"], latest["unchanged"]) == (1, 1, 38)
    assert first["adds"] == 40

    paused = client.patch(f"/api/v1/syncs/{sync_id}", json={"enabled": False}, headers=headers)
    assert paused.get_json()["enabled"] is False
    assert client.delete(f"/api/v1/syncs/{sync_id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/syncs/{sync_id}", headers=headers).status_code == 404


@responses.activate
def test_a_new_sync_is_made_paused_and_its_whole_first_run_can_be_previewed_before_it_is_started(
    client: FlaskClient, settings: Settings, audience_shop: Audience, headers: dict[str, str], run_worker: Any
) -> None:
    destination = mailchimp(client, headers).get_json()
    body = {"segment_id": audience_shop.segment_id, "destination_id": destination["id"], "mode": "audience"}
    created = client.post("/api/v1/syncs", json=body, headers=headers)
    assert created.status_code == 201
    made = created.get_json()
    assert (made["enabled"], made["status"], made["last_run"], made["last_run_at"]) == (
        False,
        "paused",
        None,
        None,
    )
    sync_id = made["id"]
    assert queue(settings, SYNC).count == 0  # nothing queued
    assert sync_all_job() == 0  # and the schedule passes it by

    preview = client.post(f"/api/v1/syncs/{sync_id}/preview", headers=headers)
    assert preview.status_code == 200
    first = preview.get_json()
    # The whole first run: every subscribed member of the segment is an add (the unsubscribed one is not).
    assert (first["adds"], first["updates"], first["removes"], first["unchanged"]) == (40, 0, 0, 0)
    members = {e for e in audience_shop.contact_ids if e.startswith("person")}
    assert len(first["sample"]["adds"]) == 10
    assert {a["email"] for a in first["sample"]["adds"]} <= members
    assert len(responses.calls) == 0  # a dry run calls nobody
    run_worker()
    assert client.get(f"/api/v1/syncs/{sync_id}/runs", headers=headers).get_json() == {"runs": []}
    refused = client.post(f"/api/v1/syncs/{sync_id}/runs", headers=headers)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "sync_paused")
    assert queue(settings, SYNC).count == 0

    mock_mailchimp()
    started = client.patch(f"/api/v1/syncs/{sync_id}", json={"enabled": True}, headers=headers)
    assert started.status_code == 200
    assert (started.get_json()["enabled"], started.get_json()["status"]) == (True, "idle")
    assert queue(settings, SYNC).count == 1  # starting queued the first run
    run_worker()
    detail = client.get(f"/api/v1/syncs/{sync_id}", headers=headers).get_json()
    assert (detail["delivered"], detail["last_run"]["adds"], detail["last_run"]["status"]) == (
        40,
        first["adds"],
        "succeeded",
    )
    assert sync_all_job() == 1  # started: the schedule runs it too

    paused = client.patch(f"/api/v1/syncs/{sync_id}", json={"enabled": False}, headers=headers).get_json()
    assert (paused["enabled"], paused["status"]) == (False, "paused")
    assert sync_all_job() == 0


@pytest.mark.parametrize(
    ("choice", "started"),
    [({}, False), ({"start": False}, False), ({"enabled": False}, False), ({"start": True}, True)],
)
@responses.activate
def test_a_sync_starts_at_once_only_when_asked(
    client: FlaskClient,
    settings: Settings,
    audience_shop: Audience,
    headers: dict[str, str],
    run_worker: Any,
    choice: dict[str, bool],
    started: bool,
) -> None:
    mock_mailchimp()
    destination = mailchimp(client, headers).get_json()
    body = {"segment_id": audience_shop.segment_id, "destination_id": destination["id"], "mode": "audience"}
    created = client.post("/api/v1/syncs", json={**body, **choice}, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["enabled"] is started
    assert queue(settings, SYNC).count == (1 if started else 0)
    run_worker()
    detail = client.get(f"/api/v1/syncs/{created.get_json()['id']}", headers=headers).get_json()
    assert detail["delivered"] == (40 if started else 0)
    assert detail["status"] == ("idle" if started else "paused")


def test_start_and_enabled_that_disagree_are_refused(
    client: FlaskClient, audience_shop: Audience, headers: dict[str, str]
) -> None:
    destination = mailchimp(client, headers).get_json()
    body = {"segment_id": audience_shop.segment_id, "destination_id": destination["id"], "mode": "audience"}
    answer = client.post("/api/v1/syncs", json={**body, "start": True, "enabled": False}, headers=headers)
    assert answer.status_code == 422
    assert "start" in answer.get_json()["details"]["json"]


@responses.activate
def test_new_credentials_restart_a_sync_a_revoked_key_stopped(
    client: FlaskClient, settings: Settings, audience_shop: Audience, headers: dict[str, str], run_worker: Any
) -> None:
    responses.post(TAGS, status=401, json={"title": "API Key Invalid", "status": 401, "detail": "invalid"})
    destination = mailchimp(client, headers).get_json()
    body = {
        "segment_id": audience_shop.segment_id,
        "destination_id": destination["id"],
        "mode": "audience",
        "start": True,
    }
    sync_id = client.post("/api/v1/syncs", json=body, headers=headers).get_json()["id"]
    run_worker()
    stopped = client.get(f"/api/v1/syncs/{sync_id}", headers=headers).get_json()
    assert stopped["status"] == "stopped"
    assert "refused the credentials" in stopped["last_error"]
    [notice] = client.get("/api/v1/notifications", headers=headers).get_json()["notifications"]
    assert (notice["kind"], notice["data"]["sync_id"]) == ("sync_stopped", sync_id)
    assert notice["data"]["destination"] == "Newsletter"
    assert "refused" not in str(notice)  # the vendor's words stay on the run

    responses.reset()
    mock_mailchimp()
    fixed = client.patch(
        f"/api/v1/destinations/{destination['id']}", json={"credentials": {"api_key": KEY}}, headers=headers
    )
    assert fixed.status_code == 200
    run_worker()  # the update asked for a run
    running = client.get(f"/api/v1/syncs/{sync_id}", headers=headers).get_json()
    assert (running["status"], running["last_error"], running["delivered"]) == ("idle", None, 40)


def test_the_openapi_document_describes_the_sync_endpoints(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/destinations",
        "/api/v1/syncs",
        "/api/v1/syncs/{sync_id}/preview",
        "/api/v1/syncs/{sync_id}/runs",
    ):
        assert path in paths


@responses.activate
def test_editing_the_segment_runs_its_syncs(
    client: FlaskClient, settings: Settings, audience_shop: Audience, headers: dict[str, str], run_worker: Any
) -> None:
    mock_mailchimp()
    destination = mailchimp(client, headers).get_json()
    body = {
        "segment_id": audience_shop.segment_id,
        "destination_id": destination["id"],
        "mode": "audience",
        "start": True,
    }
    sync_id = client.post("/api/v1/syncs", json=body, headers=headers).get_json()["id"]
    run_worker()
    narrower = {"name": "Everybody", "filter": {"all": [{"subscription": ["subscribed"]}, {"tag": "vip"}]}}
    assert (
        client.put(f"/api/v1/segments/{audience_shop.segment_id}", json=narrower, headers=headers).status_code
        == 200
    )
    run_worker()
    [latest, _] = client.get(f"/api/v1/syncs/{sync_id}/runs", headers=headers).get_json()["runs"]
    assert (latest["adds"], latest["removes"]) == (0, 40)  # nobody carries the tag: everybody leaves


def webhook(client: FlaskClient, headers: dict[str, str], url: str) -> Any:
    body = {"kind": "webhook", "name": "CRM", "config": {"url": url}, "credentials": {"secret": "s" * 20}}
    return client.post("/api/v1/destinations", json=body, headers=headers)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/in", "url_not_https"),
        ("https://127.0.0.1/in", "url_not_public"),
        ("https://localhost:8443/in", "url_not_public"),
        ("https://2130706433/in", "url_not_public"),  # 127.0.0.1 written as one number
        ("https://0.0.0.0/in", "url_not_public"),
        ("https://[::1]/in", "url_not_public"),
        ("https://mapped.example.com/in", "url_not_public"),  # ::ffff:127.0.0.1 is loopback too
        ("https://10.1.2.3/in", "url_not_public"),
        ("https://172.16.0.1/in", "url_not_public"),
        ("https://192.168.1.10/in", "url_not_public"),
        ("https://100.64.0.1/in", "url_not_public"),  # carrier-grade NAT
        ("https://169.254.169.254/latest/meta-data/", "url_not_public"),  # cloud metadata
        ("https://[fd00:ec2::254]/latest/meta-data/", "url_not_public"),
        ("https://[fe80::1]/in", "url_not_public"),
        ("https://224.0.0.1/in", "url_not_public"),  # multicast
        ("https://240.0.0.1/in", "url_not_public"),  # reserved
        ("https://192.0.0.8/in", "url_not_public"),  # IETF protocol assignments (the dummy address)
        ("https://[fec0::1]/in", "url_not_public"),  # deprecated site-local
        ("https://[3fff::1]/in", "url_not_public"),  # documentation
        ("https://relay.example.com/in", "url_not_public"),  # the deprecated 6to4 relay anycast
        ("https://internal.example.com/in", "url_not_public"),  # one private address among its answers
        ("https://metadata.example.com/in", "url_not_public"),  # a name for the metadata address
        ("https://nowhere.example.com/in", "url_unresolvable"),
    ],
)
def test_a_webhook_destination_must_be_https_on_public_addresses(
    client: FlaskClient, headers: dict[str, str], dns: dict[str, list[str]], url: str, code: str
) -> None:
    dns.update(
        {
            "hooks.example.com": [PUBLIC_ADDRESS],
            "internal.example.com": [PUBLIC_ADDRESS, "10.0.0.7"],
            "metadata.example.com": ["169.254.169.254"],
            "mapped.example.com": ["::ffff:127.0.0.1"],
            "relay.example.com": ["192.88.99.1"],
            "nowhere.example.com": [],
        }
    )
    refused = webhook(client, headers, url)
    assert refused.status_code == 422
    answer = refused.get_json()
    assert answer["code"] == code
    assert url in answer["message"]
    assert answer["details"]["config"]["url"] == [answer["message"]]
    assert client.get("/api/v1/destinations", headers=headers).get_json() == {"destinations": []}


def test_a_slow_resolver_holds_a_save_three_seconds_at_most(
    client: FlaskClient, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo
    released = threading.Event()

    def hanging(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.example.com":
            released.wait(60)  # a resolver that does not answer for a minute
            return real(PUBLIC_ADDRESS, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    started = time.monotonic()
    try:
        answer = webhook(client, headers, "https://slow.example.com/in")
    finally:
        waited = time.monotonic() - started
        released.set()
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["code"] == "url_unresolvable"
    assert "timed out" in body["message"]
    assert "https://slow.example.com/in" in body["message"]
    assert 3 <= waited < 10  # the three seconds, and a busy machine's margin
    assert client.get("/api/v1/destinations", headers=headers).get_json() == {"destinations": []}


def test_a_webhook_destination_changed_to_a_private_address_is_refused_and_kept(
    client: FlaskClient, headers: dict[str, str], dns: dict[str, list[str]]
) -> None:
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    made = webhook(client, headers, "https://hooks.example.com/in")
    assert made.status_code == 201
    path = f"/api/v1/destinations/{made.get_json()['id']}"
    moved = client.patch(path, json={"config": {"url": "https://169.254.169.254/x"}}, headers=headers)
    assert (moved.status_code, moved.get_json()["code"]) == (422, "url_not_public")
    dns["hooks.example.com"] = ["192.168.0.10"]  # the name itself now points inside
    renamed = client.patch(path, json={"config": {"url": "https://hooks.example.com/v2"}}, headers=headers)
    assert (renamed.status_code, renamed.get_json()["code"]) == (422, "url_not_public")
    kept = client.get(path, headers=headers).get_json()
    assert kept["config"]["url"] == "https://hooks.example.com/in"


def test_an_installation_may_allow_http_and_private_webhook_addresses(
    settings: Settings, audience_shop: Audience, headers: dict[str, str], dns: dict[str, list[str]]
) -> None:
    dns["crm"] = ["172.18.0.5"]  # a service on the installation's own network
    allowing = create_app(
        {
            "instance_path": settings.instance_path,
            "database_url": settings.database_url,
            "redis_url": settings.redis_url,
            "secret_key": settings.secret_key,
            "encryption_keys": settings.encryption_keys,
            "webhook_allow_private": True,
        }
    ).test_client()
    for url in ("http://127.0.0.1:8080/in", "https://10.0.0.7/in", "http://crm:8080/in"):
        assert webhook(allowing, headers, url).status_code == 201, url
