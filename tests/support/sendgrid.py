"""SendGrid as the tests play it: a signing key of their own, signed deliveries, documented events."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import EmailSource, EmailTool
from tests.support.builders import make_store

# A batch of events in the shape SendGrid documents.
SENDGRID_EVENTS = (Path(__file__).parent.parent / "fixtures" / "sendgrid" / "events.json").read_bytes()

PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = PRIVATE.public_key()
PEM = PUBLIC.public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
DER_B64 = base64.b64encode(
    PUBLIC.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def sign(timestamp: str, body: bytes) -> str:
    """Sign as SendGrid does: ECDSA with SHA-256 over the timestamp followed by the raw body."""
    return base64.b64encode(PRIVATE.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()


def signed_headers(body: bytes, seconds_ago: int = 0) -> dict[str, str]:
    """SendGrid's signature headers for `body`, signed now (or `seconds_ago`)."""
    timestamp = str(int(time.time()) - seconds_ago)
    return {
        "X-Twilio-Email-Event-Webhook-Signature": sign(timestamp, body),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def keyless_sendgrid_source(settings: Settings) -> tuple[int, int]:
    """A SendGrid source as sources were made before a key was required: without one."""
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
        source = EmailSource(account_id=account_id, kind=EmailTool.SENDGRID, name="old")
        session.add(source)
        session.flush()
        return source.id, account_id
