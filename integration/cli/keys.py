"""`storepulse keys`: API keys, and new keys for encrypting stored credentials."""

from __future__ import annotations

import click

from integration.accounts import create_api_key, revoke_api_key
from integration.cli.common import emit, json_option, opened, read_settings
from integration.crypto import new_encryption_key


@click.group("keys")
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.argument("account_id", type=int)
@click.option("--name", default="default", show_default=True)
@json_option
def keys_create(account_id: int, name: str, as_json: bool) -> None:
    """Create an API key; the key is printed only this once."""
    with opened(read_settings()) as session:
        key, token = create_api_key(session, account_id, name)
        data = {"prefix": key.prefix, "key": token, "account_id": account_id, "name": name}
    emit(as_json, data, f"{token}\n(prefix {data['prefix']}; store it now, it is not shown again)")


@keys.command("revoke")
@click.argument("prefix")
@json_option
def keys_revoke(prefix: str, as_json: bool) -> None:
    """Revoke the API key with this prefix."""
    with opened(read_settings()) as session:
        key = revoke_api_key(session, prefix)
        data = {"prefix": key.prefix, "revoked_at": key.revoked_at}
    emit(as_json, data, f"key {prefix} revoked")


@keys.command("encryption-key")
def keys_encryption_key() -> None:
    """Print a new value for STOREPULSE_ENCRYPTION_KEY."""
    click.echo(new_encryption_key())
