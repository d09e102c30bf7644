"""Billbee's webhooks, to a URL per store: `/webhooks/billbee/<store id>`, only as a nudge.

Billbee documents no signature for its deliveries, so a delivery is never read as data: it only
asks for the store's next pass over modified orders now rather than at its turn (at most one every
30 s per store, `jobs.billbee.request_poll`), and that pass reads Billbee's API with the store's
own credentials. The body is read (bounded) and dropped. A store that is not a connected Billbee
store answers 404. Billbee's registration echo (`GET ?echo=…`) is answered with the value.
"""

from __future__ import annotations

from flask import Blueprint, abort, request
from sqlalchemy import select

from integration.store.models import Platform, Store, StoreState
from integration.web.context import db
from integration.web.views.bodies import read_body
from jobs.billbee import request_poll

blueprint = Blueprint("billbee_webhooks", __name__)

MAX_BODY_BYTES = 64 * 1024
MAX_ECHO = 200


def _connected(store_id: int) -> bool:
    found = db.session.scalar(
        select(Store.id).where(
            Store.id == store_id, Store.platform == Platform.BILLBEE, Store.state == StoreState.CONNECTED
        )
    )
    db.commit()
    return found is not None


@blueprint.route("/webhooks/billbee/<int:store_id>", methods=["GET", "POST"])
def nudge(store_id: int) -> tuple[str, int, dict[str, str]]:
    """Ask for an earlier pass over the store's modified orders; nothing is stored."""
    if request.method == "POST":
        read_body(MAX_BODY_BYTES)  # read and dropped: never data
    if not _connected(store_id):
        abort(404)
    if request.method == "GET":
        return request.args.get("echo", "")[:MAX_ECHO], 200, {"Content-Type": "text/plain; charset=utf-8"}
    request_poll(store_id)
    return "", 202, {}
