"""Email-tool webhooks: SendGrid's Event Webhook and Mailchimp's audience webhooks.

Each view checks the delivery before reading it (SendGrid: the ECDSA signature over timestamp and
raw body, with the source's verification key, and the timestamp's age; Mailchimp: the secret in the
URL), stores the raw body in the inbox (a SendGrid delivery marked as verified), enqueues its
processing and answers. A delivery that fails the check is answered 401 and stored nowhere; so is
every delivery to a SendGrid source without a verification key.
If the database cannot take the delivery the answer is 503, so the tool retries; if Redis is down
the delivery is stored anyway and the inbox sweeper enqueues it later.
"""

from __future__ import annotations

import hashlib
import time
from urllib.parse import parse_qsl

from flask import Blueprint, abort, request

from integration.ingest import inbox
from integration.store.models import EmailSource, EmailTool
from integration.store.types import utcnow
from integration.web.context import current_settings, db
from integration.web.views.auth import fail
from integration.web.views.bodies import read_body
from jobs.ingest import process_inbox_job
from jobs.queues import INGEST, enqueue_or_sweep
from webhooks.signatures import secret_matches, sendgrid_signature_valid, timestamp_within

blueprint = Blueprint("email_webhooks", __name__, url_prefix="/webhooks/email")

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
# SendGrid documents no tolerance; it retries a delivery for up to 24 hours after the event, and
# whether a retry is signed anew is not documented, so a retry's timestamp may be the first
# attempt's. Three times that window never refuses a genuine retry, and a captured delivery cannot
# be replayed for ever: its source stores the same bytes only once, but another source with the
# same key (one made anew, say) would take them.
SENDGRID_TIMESTAMP_TOLERANCE_SECONDS = 72 * 3600
# Largest bodies taken, read as they arrive (413 beyond): a SendGrid POST is a batch of events, far
# smaller; a Mailchimp POST is one form-encoded event of a few kilobytes.
SENDGRID_MAX_BODY_BYTES = 10 * 1024 * 1024
MAILCHIMP_MAX_BODY_BYTES = 1024 * 1024


@blueprint.post("/sendgrid/<int:source_id>")
def sendgrid(source_id: int) -> tuple[str, int]:
    """Receive a batch of SendGrid events."""
    body = read_body(SENDGRID_MAX_BODY_BYTES)
    source = _source(source_id, EmailTool.SENDGRID)
    if not source.verification_key:
        # Unsigned events could block or engage any contact of the account: none is taken.
        fail(
            401,
            f"email source {source.id} has no verification key; its deliveries are refused until one is set",
            "verification_key_missing",
        )
    timestamp = request.headers.get(SENDGRID_TIMESTAMP)
    if not sendgrid_signature_valid(
        source.verification_key, request.headers.get(SENDGRID_SIGNATURE), timestamp, body
    ):
        fail(401, "the delivery's signature does not verify with the source's key", "invalid_signature")
    if not timestamp_within(timestamp, time.time(), SENDGRID_TIMESTAMP_TOLERANCE_SECONDS):
        fail(
            401,
            f"the delivery was signed at {timestamp}, more than "
            f"{SENDGRID_TIMESTAMP_TOLERANCE_SECONDS // 3600} hours from now: a replay is not taken",
            "timestamp_out_of_range",
        )
    return _accept(source, "events", body, signature_verified=True)


@blueprint.route("/mailchimp/<int:source_id>/<secret>", methods=["GET", "POST"])
def mailchimp(source_id: int, secret: str) -> tuple[str, int]:
    """Receive a Mailchimp audience webhook; answer Mailchimp's validation GET."""
    source = _source(source_id, EmailTool.MAILCHIMP)
    if not secret_matches(secret, source.secret_hash):
        abort(401)
    if request.method == "GET":
        return "", 200
    body = read_body(MAILCHIMP_MAX_BODY_BYTES)
    # The topic is for the inbox's listing only; processing reads the stored body again.
    topic = dict(parse_qsl(body.decode("utf-8", errors="replace"))).get("type", "unknown")[:100]
    return _accept(source, topic, body, signature_verified=False)


def _source(source_id: int, kind: EmailTool) -> EmailSource:
    # A database outage raises OperationalError: the app answers 503, so the tool retries.
    source = db.session.get(EmailSource, source_id)
    db.commit()  # the connection is not held while a body arrives
    if source is None or source.kind != kind:
        abort(404)
    return source


def _accept(source: EmailSource, topic: str, body: bytes, *, signature_verified: bool) -> tuple[str, int]:
    settings = current_settings()
    received = inbox.receive(
        db.session,
        source=source.kind.value,
        topic=topic,
        # These tools send no delivery id; a retry repeats the same bytes.
        delivery_id=f"{source.id}:{hashlib.sha256(body).hexdigest()}",
        body=body,
        email_source_id=source.id,
        signature_verified=signature_verified,
    )
    stored = db.session.get(EmailSource, source.id)
    if stored is not None:
        stored.last_delivery_at = utcnow()
    db.commit()  # the delivery is stored before it is handed on
    if received.new:
        enqueue_or_sweep(settings, INGEST, process_inbox_job, [received.id])
    return "", 200
