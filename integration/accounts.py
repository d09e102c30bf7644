"""Accounts, stores and API keys: creating them, and telling a key's account from a bearer token."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration import notifications
from integration.crypto import hash_api_key, load_ec_public_key, new_api_key
from integration.store import locks
from integration.store.models import (
    Account,
    ApiKey,
    EmailSource,
    EmailTool,
    NotificationKind,
    Platform,
    Store,
    StoreState,
)
from integration.store.types import utcnow


def check_time_zone(name: str) -> str:
    """Return `name` if it is an IANA time zone, else raise ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def create_account(session: Session, name: str, time_zone: str = "UTC") -> Account:
    """Create a merchant account."""
    account = Account(name=name.strip(), time_zone=check_time_zone(time_zone))
    session.add(account)
    session.flush()
    return account


def add_store(
    session: Session,
    account_id: int,
    *,
    platform: Platform,
    name: str,
    currency: str,
    time_zone: str = "UTC",
    shop_domain: str | None = None,
) -> Store:
    """Connect a source (Shopify shop, CSV feed or API client) to an account."""
    if session.get(Account, account_id) is None:
        raise LookupError(f"no account {account_id}")
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError("currency must be an ISO 4217 code such as EUR")
    store = Store(
        account_id=account_id,
        platform=platform,
        name=name.strip(),
        currency=currency.upper(),
        time_zone=check_time_zone(time_zone),
        shop_domain=shop_domain,
    )
    session.add(store)
    session.flush()
    return store


def create_api_key(session: Session, account_id: int, name: str = "default") -> tuple[ApiKey, str]:
    """Create an API key; return the stored row and the token, which is shown only this once."""
    if session.get(Account, account_id) is None:
        raise LookupError(f"no account {account_id}")
    made = new_api_key()
    key = ApiKey(account_id=account_id, name=name, prefix=made.prefix, key_hash=made.digest)
    session.add(key)
    session.flush()
    return key, made.token


def revoke_api_key(session: Session, prefix: str) -> ApiKey:
    """Revoke the key with this prefix; a revoked key authenticates nothing."""
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise LookupError(f"no API key with prefix {prefix}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def authenticate(session: Session, token: str) -> ApiKey | None:
    """Return the live key for a bearer token, or None."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(token)))
    if key is None or key.revoked_at is not None:
        return None
    key.last_used_at = utcnow()
    return key


def add_email_source(
    session: Session, account_id: int, kind: EmailTool, name: str, verification_key: str | None = None
) -> tuple[EmailSource, str | None]:
    """Connect an email tool's webhooks; return the source and, for Mailchimp, its URL secret (shown once).

    A SendGrid source needs its `verification_key` (the signed Event Webhook's public key): only
    deliveries signed with it are accepted.
    """
    if session.get(Account, account_id) is None:
        raise LookupError(f"no account {account_id}")
    if kind == EmailTool.SENDGRID and not (verification_key or "").strip():
        raise ValueError(
            "a SendGrid source needs its verification key: the public key of SendGrid's signed Event Webhook"
        )
    if verification_key is not None and kind != EmailTool.SENDGRID:
        raise ValueError("only SendGrid deliveries carry a signature to verify")
    secret = secrets.token_urlsafe(24) if kind == EmailTool.MAILCHIMP else None
    source = EmailSource(
        account_id=account_id,
        kind=kind,
        name=name,
        verification_key=_checked_key(verification_key) if verification_key is not None else None,
        secret_hash=hashlib.sha256(secret.encode()).hexdigest() if secret else None,
    )
    session.add(source)
    session.flush()
    return source, secret


def set_verification_key(session: Session, source_id: int, verification_key: str) -> EmailSource:
    """Set or replace a SendGrid source's verification key; from now on only deliveries it verifies count."""
    source = session.get(EmailSource, source_id)
    if source is None:
        raise LookupError(f"no email source {source_id}")
    if source.kind != EmailTool.SENDGRID:
        raise ValueError("only SendGrid deliveries carry a signature to verify")
    source.verification_key = _checked_key(verification_key)
    session.flush()
    return source


def _checked_key(verification_key: str) -> str:
    key = verification_key.strip()
    load_ec_public_key(key)  # a key that cannot verify anything would refuse every delivery
    return key


def email_source_problem(source: EmailSource) -> str | None:
    """Why a source refuses every delivery, or None when it accepts verified ones."""
    if source.kind == EmailTool.SENDGRID and not source.verification_key:
        return "no verification key: every delivery is refused until one is set"
    return None


def describe_email_source(source: EmailSource) -> dict[str, Any]:
    """A source as listed: what it is, the path it receives on and whether it accepts deliveries."""
    problem = email_source_problem(source)
    return {
        "id": source.id,
        "account_id": source.account_id,
        "kind": source.kind.value,
        "name": source.name,
        # A Mailchimp secret is kept only as a digest: the listing shows where it goes.
        "path": email_webhook_path(source, "{secret}"),
        "signed": bool(source.verification_key),
        "accepts_deliveries": problem is None,
        "problem": problem,
        "last_delivery_at": source.last_delivery_at.isoformat() if source.last_delivery_at else None,
    }


def email_sources(session: Session, account_id: int | None = None) -> list[EmailSource]:
    """The email sources of an account (or of every account), oldest first."""
    query = select(EmailSource).order_by(EmailSource.id)
    if account_id is not None:
        query = query.where(EmailSource.account_id == account_id)
    return list(session.scalars(query))


def email_webhook_path(source: EmailSource, secret: str | None = None) -> str:
    """Return the path an email tool posts to (a Mailchimp path ends in its secret)."""
    path = f"/webhooks/email/{source.kind.value}/{source.id}"
    return f"{path}/{secret}" if source.kind == EmailTool.MAILCHIMP and secret else path


def connect_platform_store(
    session: Session,
    *,
    platform: Platform,
    shop_domain: str,
    name: str,
    currency: str,
    time_zone: str,
    credentials: bytes,
) -> tuple[Store, bool]:
    """Connect an installed shop: reconnect its store (keeping all its data) or create account and store.

    Returns the store and whether it was new.
    """
    store = session.scalar(select(Store).where(Store.platform == platform, Store.shop_domain == shop_domain))
    now = utcnow()
    if store is not None:
        store.state = StoreState.CONNECTED
        store.credentials = credentials
        store.connected_at = now
        store.disconnected_at = None
        store.name = name.strip() or store.name
        return store, False
    zone = time_zone if _known_zone(time_zone) else "UTC"
    account = create_account(session, name.strip() or shop_domain, zone)
    store = add_store(
        session,
        account.id,
        platform=platform,
        name=name.strip() or shop_domain,
        currency=currency,
        time_zone=zone,
        shop_domain=shop_domain,
    )
    store.credentials = credentials
    return store, True


def _known_zone(name: str) -> bool:
    try:
        check_time_zone(name)
    except ValueError:
        return False
    return True


def all_accounts(session: Session) -> list[Account]:
    """Every merchant account, oldest first."""
    return list(session.scalars(select(Account).order_by(Account.id)))


def get_store(session: Session, store_id: int) -> Store:
    """Return the store with this id, or raise LookupError."""
    store = session.get(Store, store_id)
    if store is None:
        raise LookupError(f"no store {store_id}")
    return store


def account_stores(session: Session, account_id: int) -> list[Store]:
    """The stores of an account, oldest first."""
    return list(session.scalars(select(Store).where(Store.account_id == account_id).order_by(Store.id)))


def api_keys(session: Session, account_id: int) -> list[ApiKey]:
    """The API keys of an account, revoked ones too, oldest first."""
    return list(session.scalars(select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.id)))


def revoke_account_key(session: Session, account_id: int, key_id: int) -> ApiKey:
    """Revoke the account's key with this id (another account's key does not exist here)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.account_id != account_id:
        raise LookupError(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def disconnect_refused(session: Session, store_id: int, why: str) -> bool:
    """Disconnect a store whose platform refused its credentials (its data stays), and tell the
    account; False if it was not connected."""
    store = session.get(Store, store_id, with_for_update=locks.FOR_CHANGE)
    if store is None or store.state != StoreState.CONNECTED:
        return False
    store.state, store.credentials, store.disconnected_at = StoreState.DISCONNECTED, None, utcnow()
    notifications.notify(
        session,
        store.account_id,
        NotificationKind.STORE_DISCONNECTED,
        f"store:{store.id}",
        {"store_id": store.id, "store": store.name, "reason": why[:300]},
    )
    return True


class StoreTaken(Exception):
    """The shop (or platform account) is connected to another storepulse account."""


def held_store(session: Session, account_id: int, platform: Platform, shop_domain: str) -> Store | None:
    """The account's store for this shop, locked for the connection; None when there is none yet.

    Raises StoreTaken when another account holds the shop (a shop belongs to one account).
    """
    store = session.scalar(
        select(Store)
        .where(Store.platform == platform, Store.shop_domain == shop_domain)
        .with_for_update(key_share=True)  # as locks.FOR_CHANGE
    )
    if store is not None and store.account_id != account_id:
        raise StoreTaken(shop_domain)
    return store


def connect_store(
    session: Session,
    account_id: int,
    store: Store | None,
    *,
    platform: Platform,
    shop_domain: str,
    credentials: bytes,
    name: str,
    currency: str,
    time_zone: str,
) -> tuple[Store, bool]:
    """Connect `store` (from `held_store`) again with new credentials, keeping its data, or add it;
    return the store and whether it is new."""
    if store is not None:
        store.state, store.credentials = StoreState.CONNECTED, credentials
        store.connected_at, store.disconnected_at = utcnow(), None
        return store, False
    store = add_store(
        session,
        account_id,
        platform=platform,
        name=name,
        currency=currency,
        time_zone=time_zone,
        shop_domain=shop_domain,
    )
    store.credentials = credentials
    return store, True
