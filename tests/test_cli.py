"""The command line: accounts, stores and keys, with --json for scripts."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from click.testing import CliRunner

from integration.accounts import authenticate
from integration.cli import cli
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import DestinationKind
from tests.sync_helpers import add_sync, audience


@pytest.fixture
def invoke(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("integration.cli.get_settings", lambda: settings)
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
    ],
)
def test_mistakes_get_a_clear_error(invoke: Any, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert message in result.output


@responses.activate
def test_syncs_from_the_command_line(invoke: Any, settings: Settings) -> None:
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
