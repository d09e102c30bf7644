"""One email to one customer, through the account's own mail server, recorded on the profile.

A blocked contact (hard bounce, spam complaint) is never written to; an unsubscribed one only with
an explicit override (a transactional reply, say). The message is recorded as an email campaign
of its own with one send, so the profile shows it with its preview like any campaign, and it
counts for the frequency cap.

The frequency cap is kept: a contact contacted within the account's window (the profile's
`recently_contacted`, by the same function) gets no message unless the merchant overrides it, and
the send records that it did. The contact's row is locked from the check until the send is
recorded, so two requests at once cannot both pass the check (SQLite takes its write lock at
BEGIN, which serializes them the same way).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from html import escape

from sqlalchemy.orm import Session

from integration.campaigns import sends as campaigns
from integration.crypto import decrypt_json, encrypt_json
from integration.errors import RequestRefused
from integration.store.models import (
    CampaignChannel,
    CampaignSend,
    Contact,
    Sender,
    SendStatus,
    SubscriptionStatus,
)
from integration.store.types import utcnow

SMTP_TIMEOUT_SECONDS = 15
SECURITY = ("starttls", "tls", "none")


class MessageRefused(RequestRefused):
    """The message may not be sent; `reason` is machine-readable, `details` what the caller may show."""

    def __init__(self, reason: str, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message, reason, details)


@dataclass(frozen=True)
class SenderSettings:
    host: str
    port: int
    security: str
    from_email: str
    from_name: str | None = None
    username: str | None = None
    password: str | None = None


def save_sender(session: Session, keys: tuple[str, ...], account_id: int, settings: SenderSettings) -> Sender:
    """Configure (or replace) the account's mail server; the password is stored encrypted."""
    if settings.security not in SECURITY:
        raise ValueError(f"security must be one of {', '.join(SECURITY)}")
    sender = session.get(Sender, account_id) or Sender(account_id=account_id)
    sender.host, sender.port, sender.security = settings.host, settings.port, settings.security
    sender.from_email, sender.from_name, sender.username = (
        settings.from_email,
        settings.from_name,
        settings.username,
    )
    if settings.password is not None:
        sender.password = encrypt_json(keys, {"password": settings.password})
    session.add(sender)
    session.flush()
    return sender


def describe_sender(sender: Sender | None) -> dict[str, object] | None:
    if sender is None:
        return None
    return {
        "host": sender.host,
        "port": sender.port,
        "security": sender.security,
        "username": sender.username,
        "password_set": sender.password is not None,
        "from_email": sender.from_email,
        "from_name": sender.from_name,
    }


def send_message(
    session: Session,
    keys: tuple[str, ...],
    account_id: int,
    contact_id: int,
    subject: str,
    body: str,
    *,
    override_unsubscribed: bool = False,
    override_frequency_cap: bool = False,
    now: datetime | None = None,
) -> CampaignSend:
    """Send one plain-text email to a contact and record it; raise MessageRefused when it may not go."""
    # Locked until the caller commits: a second message to the contact waits, then sees this send.
    contact = session.get(Contact, contact_id, with_for_update=True, populate_existing=True)
    if contact is None or contact.account_id != account_id or contact.deleted_at is not None:
        raise MessageRefused("not_found", f"no contact {contact_id}")
    if contact.blocked_reason is not None:
        raise MessageRefused(
            "contact_blocked", f"the contact is blocked ({contact.blocked_reason.value}): no email goes to it"
        )
    if contact.subscription_status == SubscriptionStatus.UNSUBSCRIBED and not override_unsubscribed:
        raise MessageRefused(
            "contact_unsubscribed",
            "the contact unsubscribed; set override_unsubscribed for a message it needs (a reply, say)",
        )
    cap = campaigns.frequency_cap(session, account_id, contact.id, now or utcnow())
    if cap.recently_contacted and not override_frequency_cap:
        assert cap.last_contacted_at is not None  # noqa: S101 - recently contacted has a time
        raise MessageRefused(
            "recently_contacted",
            f"the contact was contacted within the frequency cap ({cap.days} days); set override to "
            "send anyway",
            {"last_contacted_at": cap.last_contacted_at.isoformat(), "frequency_cap_days": cap.days},
        )
    sender = session.get(Sender, account_id)
    if sender is None:
        raise MessageRefused(
            "no_sender", "configure the account's mail server first (PUT /api/v1/settings/sender)"
        )

    message = EmailMessage()
    # Names are data (the sources', or a sender saved before names had to be one line): any line
    # break in them becomes a space, never a new header.
    message["From"] = formataddr((" ".join((sender.from_name or "").split()), sender.from_email))
    name = " ".join(" ".join(p.split()) for p in (contact.first_name, contact.last_name) if p)
    message["To"] = formataddr((name, contact.email))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.from_email.rsplit("@", 1)[-1])
    message.set_content(body)

    campaign = campaigns.save_campaign(
        session,
        account_id,
        channel=CampaignChannel.EMAIL,
        name=f"Message: {subject}"[:300],
        preview=f"<pre>{escape(body)}</pre>".encode(),
        content_type="text/html; charset=utf-8",
    )
    preview = campaigns.latest_preview(session, campaign.id)
    send = CampaignSend(
        campaign_id=campaign.id,
        contact_id=contact.id,
        preview_id=preview.id if preview else None,
        status=SendStatus.QUEUED,
        queued_at=utcnow(),
        frequency_cap_overridden=cap.recently_contacted,
    )
    session.add(send)
    session.flush()
    try:
        _deliver(sender, keys, message)
    except (OSError, smtplib.SMTPException) as exc:
        send.status, send.failed_at = SendStatus.FAILED, utcnow()
        session.flush()
        raise MessageRefused("smtp_failed", f"the mail server did not take the message: {exc}") from exc
    send.status, send.sent_at = SendStatus.SENT, utcnow()
    session.flush()
    return send


def _deliver(sender: Sender, keys: tuple[str, ...], message: EmailMessage) -> None:
    password = decrypt_json(keys, sender.password)["password"] if sender.password else None
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if sender.security == "tls":
        smtp = smtplib.SMTP_SSL(sender.host, sender.port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(sender.host, sender.port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if sender.security == "starttls":
            smtp.starttls(context=context)
        if sender.username and password:
            smtp.login(sender.username, password)
        smtp.send_message(message)
