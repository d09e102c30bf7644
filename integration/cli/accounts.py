"""`storepulse accounts`: merchant accounts."""

from __future__ import annotations

import click

from integration.accounts import all_accounts, create_account
from integration.cli.common import emit, json_option, opened, read_settings


@click.group("accounts")
def accounts() -> None:
    """Merchant accounts."""


@accounts.command("create")
@click.argument("name")
@click.option("--time-zone", default=None, help="IANA time zone (default: STOREPULSE_TIME_ZONE).")
@json_option
def accounts_create(name: str, time_zone: str | None, as_json: bool) -> None:
    """Create an account."""
    settings = read_settings()
    with opened(settings) as session:
        account = create_account(session, name, time_zone or settings.default_time_zone)
        data = {"id": account.id, "name": account.name, "time_zone": account.time_zone}
    emit(as_json, data, f"account {data['id']} created: {data['name']}")


@accounts.command("list")
@json_option
def accounts_list(as_json: bool) -> None:
    """List accounts."""
    with opened(read_settings()) as session:
        rows = [{"id": a.id, "name": a.name, "time_zone": a.time_zone} for a in all_accounts(session)]
    emit(as_json, rows, "\n".join(f"{r['id']}\t{r['name']}\t{r['time_zone']}" for r in rows) or "no accounts")
