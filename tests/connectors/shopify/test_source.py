"""Each Shopify topic normalized into the store, through the endpoint and a real worker."""

from __future__ import annotations

import json
from decimal import Decimal

import responses
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Checkout,
    CheckoutState,
    Contact,
    DataExport,
    EngagementStatus,
    InboxDelivery,
    InboxStatus,
    InteractionType,
    Notification,
    NotificationKind,
    Order,
    Store,
    StoreState,
    SubscriptionStatus,
)
from integration.store.types import utcnow
from tests.support.shopify import SHOP, Deliver, payload, raw

GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"


def _contact(settings: Settings, email: str) -> Contact:
    with session_scope(settings.database_url) as session:
        contact = session.scalars(select(Contact).where(Contact.email == email)).one()
        session.expunge(contact)
        return contact


def _consent_read(customer_id: str, state: str, tags: list[str]) -> dict:
    return {
        "data": {
            "nodes": [
                {
                    "id": f"gid://shopify/Customer/{customer_id}",
                    "firstName": "Bob",
                    "lastName": "Biller",
                    "createdAt": "2026-07-09T14:00:00Z",
                    "updatedAt": "2026-07-09T14:00:00Z",
                    "tags": tags,
                    "defaultEmailAddress": {
                        "emailAddress": "bob@biller.com",
                        "marketingState": state,
                        "marketingUpdatedAt": "2026-07-09T14:01:00Z",
                    },
                    "defaultPhoneNumber": None,
                }
            ]
        },
        "extensions": {
            "cost": {
                "requestedQueryCost": 3,
                "actualQueryCost": 3,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 1997,
                    "restoreRate": 100.0,
                },
            }
        },
    }


@responses.activate
def test_a_new_customer_is_read_back_for_the_consent_and_tags_its_payload_lacks(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    responses.post(GRAPHQL, json=_consent_read("706405506930370084", "SUBSCRIBED", ["vip"]))
    deliver("customers/create", raw("customers_create"))
    run_worker()  # type: ignore[operator]
    contact = _contact(shopify_settings, "bob@biller.com")
    assert (contact.first_name, contact.last_name) == ("Bob", "Biller")
    assert contact.subscription_status == SubscriptionStatus.SUBSCRIBED
    assert contact.subscription_reason == "shopify_customer"
    assert contact.tags == ["vip"]
    sent = json.loads(responses.calls[0].request.body)
    assert sent["variables"] == {"ids": ["gid://shopify/Customer/706405506930370084"]}
    assert responses.calls[0].request.headers["X-Shopify-Access-Token"] == "shpat_test_access_token"


@responses.activate
def test_the_consent_topic_maps_shopify_states_and_ignores_older_changes(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    responses.post(GRAPHQL, json=_consent_read("706405506930370084", "NOT_SUBSCRIBED", []))
    deliver("customers/create", raw("customers_create"))
    run_worker()  # type: ignore[operator]
    assert _contact(shopify_settings, "bob@biller.com").subscription_status == SubscriptionStatus.UNKNOWN

    deliver("customers_email_marketing_consent/update", raw("customers_email_marketing_consent_update"))
    run_worker()  # type: ignore[operator]
    contact = _contact(shopify_settings, "bob@biller.com")
    assert (contact.subscription_status, contact.subscription_reason) == (
        SubscriptionStatus.SUBSCRIBED,
        "shopify_consent",
    )
    older = payload("customers_email_marketing_consent_update")
    older["email_marketing_consent"].update(
        state="unsubscribed", consent_updated_at="2026-07-09T09:00:00-04:00"
    )
    deliver("customers_email_marketing_consent/update", older)
    run_worker()  # type: ignore[operator]
    assert _contact(shopify_settings, "bob@biller.com").subscription_status == SubscriptionStatus.SUBSCRIBED

    for day, state, expected in (
        (15, "redacted", SubscriptionStatus.UNSUBSCRIBED),
        (16, "pending", SubscriptionStatus.UNKNOWN),
    ):
        change = payload("customers_email_marketing_consent_update")
        change["email_marketing_consent"].update(state=state, consent_updated_at=None)
        deliver(
            "customers_email_marketing_consent/update",
            change,
            triggered_at=f"2026-07-{day}T00:00:00Z",
        )
        run_worker()  # type: ignore[operator]
        assert _contact(shopify_settings, "bob@biller.com").subscription_status == expected


@responses.activate
def test_tags_added_and_removed_follow_the_customer_and_wait_for_an_unknown_one(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    responses.post(GRAPHQL, json=_consent_read("706405506930370084", "SUBSCRIBED", ["loyal"]))
    deliver("customer.tags_added", raw("customer_tags_added"))
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        # Tags for a customer not seen yet: kept pending for a retry, not failed, not dropped.
        assert delivery.status == InboxStatus.PENDING
        assert "not known yet" in (delivery.last_error or "")
    deliver("customers/create", raw("customers_create"))
    run_worker()  # type: ignore[operator]
    deliver("customer.tags_added", raw("customer_tags_added"))
    deliver("customer.tags_removed", raw("customer_tags_removed"))
    run_worker()  # type: ignore[operator]
    assert _contact(shopify_settings, "bob@biller.com").tags == ["loyal", "vip"]


def test_an_order_settles_its_checkout_and_a_guest_checkout_without_email_is_kept(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    guest = payload("checkouts_create")
    guest.update(token="guest-token", email=None, customer=None, cart_token=None)
    deliver("checkouts/create", raw("checkouts_create"))
    deliver("checkouts/create", guest)
    deliver("orders/create", raw("orders_create"))
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        checkouts = {c.token: c for c in session.scalars(select(Checkout))}
        # The sample order was placed an hour after the checkout's last update: past its abandonment
        # (10 minutes), so it recovered the cart whether or not the scheduler had marked it yet.
        assert checkouts["123123123"].state == CheckoutState.RECOVERED
        assert checkouts["123123123"].recovery_url.endswith(
            "/checkouts/123123123/recover?key=example-secret-token"
        )
        assert [i.sku for i in checkouts["123123123"].line_items] == ["IPOD2008PINK"]
        assert checkouts["guest-token"].contact_id is None
        assert checkouts["guest-token"].email is None
        assert checkouts["guest-token"].state == CheckoutState.OPEN


def test_an_order_without_a_customer_uses_its_own_email(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    body = payload("orders_create")
    body["customer"] = None
    deliver("orders/create", body)
    run_worker()  # type: ignore[operator]
    contact = _contact(shopify_settings, "jon@example.com")
    assert contact.last_interaction_type == InteractionType.ORDER_PLACED


def test_a_voided_order_is_kept_with_its_status_but_does_not_engage(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    body = payload("orders_create")
    body.update(
        financial_status="voided", created_at="2026-11-20T10:00:00Z", updated_at="2026-11-20T10:00:00Z"
    )
    deliver("orders/create", body)
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Order.financial_status)).one() == "voided"
    contact = _contact(shopify_settings, "john@example.com")
    assert contact.last_interaction_at is None
    assert contact.engagement_status == EngagementStatus.UNENGAGED


def test_orders_keep_the_shop_currency_of_each_store(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    body = payload("orders_create")
    body.update(currency="EUR", presentment_currency="CZK", total_price="99.50")
    deliver("orders/create", body)
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        order = session.scalars(select(Order)).one()
        assert (order.currency, order.total_price) == ("EUR", Decimal("99.50"))


def test_deletes_mark_orders_checkouts_and_customers_and_late_updates_do_not_revive_them(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json=_consent_read("706405506930370084", "SUBSCRIBED", []))
        deliver("customers/create", raw("customers_create"))
        deliver("checkouts/create", raw("checkouts_create"))
        deliver("orders/create", raw("orders_create"))
        run_worker()  # type: ignore[operator]
    deliver("orders/delete", raw("orders_delete"))
    deliver("checkouts/delete", raw("checkouts_delete"))
    deliver("customers/delete", raw("customers_delete"), triggered_at="2026-07-12T00:00:00Z")
    run_worker()  # type: ignore[operator]
    late = payload("customers_create")
    late["updated_at"] = "2026-07-11T00:00:00Z"
    deliver("customers/update", late)
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Order.deleted_at)).one() is not None
        assert session.scalars(select(Checkout.deleted_at)).one() is not None
        bob = session.scalars(select(Contact).where(Contact.email == "bob@biller.com")).one()
        assert bob.deleted_at is not None
        john = session.scalars(select(Contact).where(Contact.email == "john@example.com")).one()
        assert john.last_interaction_at is None  # its only order was deleted


def test_uninstall_disconnects_the_store_and_keeps_its_data(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    deliver("orders/create", raw("orders_create"))
    deliver("app/uninstalled", raw("app_uninstalled"), triggered_at=utcnow().isoformat())
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        assert store.state == StoreState.DISCONNECTED
        assert store.credentials is None
        assert session.scalars(select(Order)).one()
        notice = session.scalars(select(Notification)).one()
        assert (notice.account_id, notice.kind, notice.user_id) == (
            store.account_id,
            NotificationKind.STORE_DISCONNECTED,
            None,
        )
        assert notice.data == {"store_id": store.id, "store": store.name}
    # Compliance requests still arrive after an uninstall.
    assert deliver("customers/data_request", raw("customers_data_request")).status_code == 200


def test_a_data_request_prepares_an_export_of_the_customer_for_the_merchant(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    deliver("orders/create", raw("orders_create"))
    deliver("checkouts/create", raw("checkouts_create"))
    run_worker()  # type: ignore[operator]
    deliver("customers/data_request", raw("customers_data_request"))
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        export = session.scalars(select(DataExport)).one()
        assert (export.request_id, export.customer_external_id) == ("9999", "115310627314723954")
        document = export.document
        assert document["contact"]["email"] == "john@example.com"
        assert [o["id"] for o in document["orders"]] == ["820982911946154508"]
        assert document["orders"][0]["line_items"][0]["sku"] == "IPOD2008PINK"


def test_a_redacted_customer_loses_personal_data_and_its_orders_keep_their_totals(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    deliver("orders/create", raw("orders_create"))
    run_worker()  # type: ignore[operator]
    deliver("customers/data_request", raw("customers_data_request"))
    deliver("customers/redact", raw("customers_redact"))
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Contact).where(Contact.email == "john@example.com")).first() is None
        contact = session.scalars(select(Contact)).one()
        assert contact.email.endswith("@redacted.invalid")
        assert contact.deleted_at is not None
        assert (contact.first_name, contact.phone, contact.tags) == (None, None, [])
        order = session.scalars(select(Order)).one()
        assert order.email is None
        assert order.total_price == Decimal("403.00")
        assert session.scalars(select(DataExport)).first() is None


def test_shop_redact_erases_every_customer_of_the_shop_and_its_raw_deliveries(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    deliver("orders/create", raw("orders_create"))
    deliver("checkouts/create", raw("checkouts_create"))
    run_worker()  # type: ignore[operator]
    deliver("shop/redact", raw("shop_redact"))
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        emails = session.scalars(select(Contact.email)).all()
        assert emails
        assert all(e.endswith("@redacted.invalid") for e in emails)
        assert session.scalars(select(Checkout.recovery_url)).all() == [None]
        bodies = session.scalars(select(InboxDelivery.body).where(InboxDelivery.topic != "shop/redact")).all()
        assert bodies == [b"", b""]


def test_data_requests_are_listed_for_the_merchant_by_api_and_cli(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object, shopify_client: object
) -> None:
    from click.testing import CliRunner

    from integration.accounts import create_account, create_api_key
    from integration.cli import cli

    deliver("orders/create", raw("orders_create"))
    deliver("customers/data_request", raw("customers_data_request"))
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        account_id = store.account_id
        _, token = create_api_key(session, account_id)
        _, stranger = create_api_key(session, create_account(session, "x").id)
    listed = shopify_client.get("/api/v1/data-requests", headers={"Authorization": f"Bearer {token}"})  # type: ignore[attr-defined]
    assert listed.status_code == 200
    [entry] = listed.get_json()
    assert entry["customer_id"] == "115310627314723954"
    one = shopify_client.get(  # type: ignore[attr-defined]
        f"/api/v1/data-requests/{entry['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert one.get_json()["document"]["contact"]["email"] == "john@example.com"
    other = shopify_client.get(  # type: ignore[attr-defined]
        f"/api/v1/data-requests/{entry['id']}", headers={"Authorization": f"Bearer {stranger}"}
    )
    assert other.status_code == 404
    result = CliRunner().invoke(cli, ["shopify", "data-requests", str(account_id), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["id"] == entry["id"]


def test_redaction_erases_the_customers_raw_deliveries_and_detaches_a_contact_another_store_knows(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    from integration.accounts import add_store
    from integration.contract import CustomerRecord
    from integration.ingest import ingest_customers
    from integration.store.models import InteractionEvent, Platform, StoreCustomer

    other_body = payload("orders_create")
    other_body.update(id=5, customer={"id": 99, "email": "someone@example.com"}, email="someone@example.com")
    deliver("orders/create", raw("orders_create"))
    deliver("orders/create", other_body)
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        second = add_store(session, store.account_id, platform=Platform.API, name="Outlet", currency="USD")
        ingest_customers(
            session,
            second,
            [CustomerRecord(external_id="x1", email="john@example.com", updated_at=store.created_at)],
        )
    deliver("customers/redact", raw("customers_redact"))
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        john = session.scalars(select(Contact).where(Contact.email == "john@example.com")).one()
        assert john.deleted_at is None  # still the outlet's customer
        links = session.execute(select(StoreCustomer.store_id, StoreCustomer.external_id)).all()
        assert (shop, "115310627314723954") not in links
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        assert orders["820982911946154508"].contact_id is None
        assert orders["820982911946154508"].email is None
        assert orders["5"].contact_id is not None  # someone else's order is untouched
        assert (
            session.scalars(select(InteractionEvent).where(InteractionEvent.contact_id == john.id)).all()
            == []
        )
        bodies = {
            d.topic + str(i): d.body
            for i, d in enumerate(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))
        }
        assert bodies["orders/create0"] == b""  # mentioned the customer
        assert bodies["orders/create1"] != b""  # did not
        assert bodies["customers/redact2"] == b""
