"""`storepulse stores`: the stores (connected sources) of an account."""

from __future__ import annotations

import click

from integration.accounts import add_store
from integration.cli.common import emit, json_option, opened, read_settings
from integration.store.models import Platform


@click.group("stores")
def stores() -> None:
    """Stores (connected sources) of an account."""


@stores.command("add")
@click.argument("account_id", type=int)
@click.option("--platform", type=click.Choice(["shopify", "csv", "api"]), default="api", show_default=True)
@click.option("--name", required=True)
@click.option("--currency", required=True, help="ISO 4217 code, e.g. EUR.")
@click.option("--time-zone", default="UTC", show_default=True)
@click.option("--shop-domain", default=None, help="The shop's myshopify.com domain (Shopify).")
@json_option
def stores_add(
    account_id: int,
    platform: str,
    name: str,
    currency: str,
    time_zone: str,
    shop_domain: str | None,
    as_json: bool,
) -> None:
    """Add a store to an account."""
    with opened(read_settings()) as session:
        store = add_store(
            session,
            account_id,
            platform=Platform(platform),
            name=name,
            currency=currency,
            time_zone=time_zone,
            shop_domain=shop_domain,
        )
        data = {"id": store.id, "account_id": account_id, "platform": platform, "name": store.name}
    emit(as_json, data, f"store {data['id']} added to account {account_id}")
