"""The command line: accounts, stores and keys, with --json for scripts."""

from __future__ import annotations

import gc
import json
import signal
import time
from typing import Any

import pytest
import responses
from click.testing import CliRunner
from flask.testing import FlaskClient

from integration.accounts import authenticate
from integration.audiences import destinations
from integration.cli import cli
from integration.crypto import decrypt_json, encrypt_json
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import DestinationKind, EmailSource, EmailTool
from jobs.queues import SYNC, queue
from tests.support.sendgrid import DER_B64, sign
from tests.support.syncs import PUBLIC_ADDRESS, add_sync, audience


@pytest.fixture
def invoke(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("integration.cli.common.get_settings", lambda: settings)
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, list(args))
        return result

    return run


def test_db_upgrade_twice_changes_nothing(invoke: Any) -> None:
    result = invoke("db", "upgrade", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["changed"] is False


def test_an_account_a_store_and_a_key_from_the_command_line(invoke: Any, settings: Settings) -> None:
    account = json.loads(
        invoke("accounts", "create", "Corner Shop", "--time-zone", "Europe/Prague", "--json").output
    )
    store = json.loads(
        invoke("stores", "add", str(account["id"]), "--name", "Web", "--currency", "czk", "--json").output
    )
    assert store["account_id"] == account["id"]
    key = json.loads(invoke("keys", "create", str(account["id"]), "--json").output)
    with session_scope(settings.database_url) as session:
        assert authenticate(session, key["key"]).account_id == account["id"]
    assert invoke("keys", "revoke", key["prefix"]).exit_code == 0
    with session_scope(settings.database_url) as session:
        assert authenticate(session, key["key"]) is None
    listed = json.loads(invoke("accounts", "list", "--json").output)
    assert listed == [{"id": account["id"], "name": "Corner Shop", "time_zone": "Europe/Prague"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accounts", "create", "X", "--time-zone", "Nowhere/City"], "unknown time zone 'Nowhere/City'"),
        (["stores", "add", "999", "--name", "Web", "--currency", "EUR"], "no account 999"),
        (["keys", "revoke", "nope"], "no API key with prefix nope"),
        (["shopify", "status", "999"], "no store 999"),
        (["syncs", "pause", "999"], "no sync 999"),
        (["syncs", "run", "999"], "no sync 999"),
    ],
)
def test_mistakes_get_a_clear_error(invoke: Any, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_a_new_encryption_key_encrypts_and_decrypts_credentials(invoke: Any) -> None:
    result = invoke("keys", "encryption-key")
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert decrypt_json((key,), encrypt_json((key,), {"token": "t"})) == {"token": "t"}


@responses.activate
def test_syncs_from_the_command_line(invoke: Any, settings: Settings, dns: dict[str, list[str]]) -> None:
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    shop = audience(settings, 3)
    sync_id = add_sync(
        settings, shop, DestinationKind.WEBHOOK, {"url": "https://hooks.example.com/x"}, {"secret": "s" * 20}
    )
    hook = responses.post("https://hooks.example.com/x", json={})
    preview = json.loads(invoke("syncs", "preview", str(sync_id), "--json").output)
    assert (preview["adds"], preview["removes"]) == (3, 0)
    run = json.loads(invoke("syncs", "run", str(sync_id), "--now", "--json").output)
    assert (run["status"], run["adds"]) == ("succeeded", 3)
    assert hook.call_count == 1
    [listed] = json.loads(invoke("syncs", "list", str(shop.account_id), "--json").output)["syncs"]
    assert (listed["id"], listed["delivered"], listed["status"]) == (sync_id, 3, "idle")
    assert "no sync 999" in invoke("syncs", "preview", "999").output


HOOK = "https://hooks.example.com/x"


def webhook_destination(settings: Settings, account_id: int) -> int:
    with session_scope(settings.database_url) as session:
        return destinations.create_destination(
            session,
            account_id,
            settings.encryption_keys,
            kind=DestinationKind.WEBHOOK,
            name="CRM",
            config={"url": HOOK},
            credentials={"secret": "s" * 20},
        ).id


@responses.activate
def test_a_sync_made_from_the_command_line_is_previewed_then_started(
    invoke: Any, settings: Settings, dns: dict[str, list[str]]
) -> None:
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    shop = audience(settings, 3)
    destination_id = webhook_destination(settings, shop.account_id)
    hook = responses.post(HOOK, json={})
    made = invoke("syncs", "create", str(shop.account_id), str(shop.segment_id), str(destination_id))
    assert made.exit_code == 0, made.output
    [listed] = json.loads(invoke("syncs", "list", str(shop.account_id), "--json").output)["syncs"]
    sync_id = listed["id"]
    assert (listed["enabled"], listed["status"]) == (False, "paused")
    assert f"sync {sync_id} created, paused" in made.output
    assert f"storepulse syncs preview {sync_id}" in made.output  # how to see the first run
    assert f"storepulse syncs start {sync_id}" in made.output  # and how to send it
    assert queue(settings, SYNC).count == 0

    preview = json.loads(invoke("syncs", "preview", str(sync_id), "--json").output)
    assert (preview["adds"], preview["updates"], preview["removes"]) == (3, 0, 0)
    shown = invoke("syncs", "preview", str(sync_id)).output
    assert shown.startswith("3 adds, 0 updates, 0 removes, 0 unchanged")
    assert f"the sync is paused: storepulse syncs start {sync_id} sends this" in shown
    refused = invoke("syncs", "run", str(sync_id), "--now")
    assert refused.exit_code == 1
    assert f"sync {sync_id} is paused: storepulse syncs start {sync_id}" in refused.output
    assert hook.call_count == 0

    started = invoke("syncs", "start", str(sync_id))
    assert started.exit_code == 0, started.output
    assert f"sync {sync_id} started: a run is queued" in started.output
    assert queue(settings, SYNC).count == 1
    run = json.loads(invoke("syncs", "run", str(sync_id), "--now", "--json").output)
    assert (run["status"], run["adds"]) == ("succeeded", 3)
    assert hook.call_count == 1

    paused = invoke("syncs", "pause", str(sync_id))
    assert paused.exit_code == 0
    assert f"storepulse syncs start {sync_id} resumes it" in paused.output
    listed = invoke("syncs", "list", str(shop.account_id)).output
    assert f"sync {sync_id}: " in listed
    assert "paused: 3 delivered, 0 failing" in listed
    assert "no sync 999" in invoke("syncs", "start", "999").output


def test_a_sync_made_with_start_queues_its_first_run(invoke: Any, settings: Settings) -> None:
    shop = audience(settings, 2)
    destination_id = webhook_destination(settings, shop.account_id)
    args = ("syncs", "create", str(shop.account_id), str(shop.segment_id), str(destination_id))
    made = invoke(*args, "--start", "--json")
    assert made.exit_code == 0, made.output
    answer = json.loads(made.output)
    assert (answer["enabled"], answer["status"], answer["queued"]) == (True, "idle", True)
    assert queue(settings, SYNC).count == 1
    again = invoke(*args)
    assert again.exit_code == 1
    assert f"sync {answer['id']} already sends this segment to this destination" in again.output
    assert "no segment 999" in invoke("syncs", "create", str(shop.account_id), "999", "1").output


def test_email_sources_a_sendgrid_source_needs_its_key_and_one_without_says_it_refuses(
    invoke: Any, settings: Settings, client: FlaskClient
) -> None:
    account = json.loads(invoke("accounts", "create", "Mail Shop", "--json").output)["id"]
    refused = invoke("sources", "add", str(account), "--kind", "sendgrid")
    assert refused.exit_code == 2
    assert "--verification-key is required for SendGrid" in refused.output
    bad_key = invoke("sources", "add", str(account), "--kind", "sendgrid", "--verification-key", "nope")
    assert bad_key.exit_code == 1
    assert "not an ECDSA public key" in bad_key.output
    made = invoke(
        "sources", "add", str(account), "--kind", "sendgrid", "--verification-key", DER_B64, "--json"
    )
    assert made.exit_code == 0, made.output
    signed_id = json.loads(made.output)["id"]
    mailchimp = json.loads(invoke("sources", "add", str(account), "--kind", "mailchimp", "--json").output)
    with session_scope(settings.database_url) as session:  # as sources were made before keys were required
        old = EmailSource(account_id=account, kind=EmailTool.SENDGRID, name="old")
        session.add(old)
        session.flush()
        old_id = old.id

    listing = json.loads(invoke("sources", "list", str(account), "--json").output)["sources"]
    listed = {s["id"]: s for s in listing}
    assert (listed[signed_id]["signed"], listed[signed_id]["accepts_deliveries"]) == (True, True)
    assert listed[mailchimp["id"]]["accepts_deliveries"] is True
    assert listed[mailchimp["id"]]["url"].endswith(f"/webhooks/email/mailchimp/{mailchimp['id']}/{{secret}}")
    assert listed[old_id]["accepts_deliveries"] is False
    assert "no verification key" in listed[old_id]["problem"]
    text = invoke("sources", "list", str(account)).output
    assert "REFUSES DELIVERIES: no verification key" in text
    assert f"storepulse sources set-key {old_id} KEY" in text
    path = f"/webhooks/email/sendgrid/{old_id}"
    body = b'[{"email":"a@example.com","timestamp":1781000000,"event":"spamreport","sg_event_id":"x1"}]'
    signed_at = str(int(time.time()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": sign(signed_at, body),
        "X-Twilio-Email-Event-Webhook-Timestamp": signed_at,
    }
    assert client.post(path, data=body, headers=headers).status_code == 401

    assert invoke("sources", "set-key", str(old_id), "nope").exit_code == 1
    assert "only SendGrid" in invoke("sources", "set-key", str(mailchimp["id"]), DER_B64).output
    assert "no email source 999" in invoke("sources", "set-key", "999", DER_B64).output
    updated = invoke("sources", "set-key", str(old_id), DER_B64, "--json")
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.output)["accepts_deliveries"] is True
    assert client.post(path, data=body, headers=headers).status_code == 200
    everyone = json.loads(invoke("sources", "list", "--json").output)["sources"]
    [again] = [s for s in everyone if s["id"] == old_id]
    assert again["problem"] is None


def test_a_worker_keeps_what_it_loaded_out_of_full_collections(invoke: Any) -> None:
    """`storepulse worker` freezes what it loaded before its first job (`integration.operations.memory`)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    gc.unfreeze()
    try:
        result = invoke("worker", "--burst")  # no job waiting: it starts, finds none and stops
        assert result.exit_code == 0, result.output
        assert gc.get_freeze_count() > 0
        assert not any(o is invoke for o in gc.get_objects())  # alive before it started: out of sight
    finally:
        gc.unfreeze()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
