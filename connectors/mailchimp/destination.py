"""A Mailchimp audience kept equal to a segment: members upserted in batches, the segment as a tag.

- Adds and updates: `POST /lists/{list_id}` with at most 500 members a call and
  `update_existing`, status `subscribed` (only subscribed contacts ever reach here). Mailchimp
  refuses to re-subscribe an address that unsubscribed or bounced there ("Member In Compliance
  State"): that contact is recorded as refused and not tried again until its data changes.
  Per-member errors come back in a 200 and are recorded per contact.
- The segment's tag: a static segment created once (or found by name) whose id the sync keeps;
  members are tagged and untagged with `POST /lists/{list_id}/segments/{id}`, 500 a call.
- Members who leave the segment are untagged, or archived if the sync says so; members who
  unsubscribed, were blocked or deleted are unsubscribed in the audience as well.
- At most 10 requests at a time per API key (Mailchimp's documented 10 simultaneous connections):
  every request holds one of the key's 10 slots while on the wire, shared by every audience and
  process using the key (in Redis when given, `connectors.limits`); calls of a batch run on a pool
  of 10 threads.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from marshmallow import Schema, fields, validate
from redis import Redis

from connectors.http import Http, json_object
from connectors.limits import Slots, key_digest
from connectors.opening import Opening
from integration.contract import ADD, LEFT, REMOVE, UPDATE, Change, Delivery
from integration.errors import ConfigError, ConnectorError, CredentialsRejected, FatalConnectorError

MAX_MEMBERS_PER_CALL = 500
MAX_CONNECTIONS = 10
COMPLIANCE = "compliance state"


def data_center(api_key: str) -> str:
    """The data center a key belongs to: the text after its last dash (`…-us6` → `us6`)."""
    dc = api_key.rsplit("-", 1)[-1] if "-" in api_key else ""
    if not dc.isalnum():
        raise ConfigError("api_key", "a Mailchimp API key ends in its data center, like -us6")
    return dc


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class MailchimpAudience:
    """Deliver a sync's changes to one Mailchimp audience (list) and its tag."""

    name = "mailchimp"
    batch_size = MAX_MEMBERS_PER_CALL * MAX_CONNECTIONS
    concurrency = 1

    def __init__(
        self,
        api_key: str,
        list_id: str,
        tag: str,
        *,
        tag_id: int | None = None,
        on_leave: str = "untag",
        http: Http | None = None,
        base_url: str | None = None,
        redis: Redis | None = None,
    ) -> None:
        self.base = base_url or f"https://{data_center(api_key)}.api.mailchimp.com/3.0"
        self.list_id = list_id
        self.tag = tag
        self.tag_id = tag_id
        self.tag_lock = threading.Lock()
        self.on_leave = on_leave
        self.http = http or Http("Mailchimp")
        self.http.session.auth = ("storepulse", api_key)
        self.http.session.headers["Accept"] = "application/json"
        # Mailchimp may answer a bare 403 without JSON under very high load: retried, not a bad key.
        self.http.bare_403_retriable = True
        # The limit is the key's, whichever audience or process sends.
        self.http.gate = Slots(f"mailchimp:{key_digest(api_key)}", MAX_CONNECTIONS, redis).slot

    def deliver(self, changes: Sequence[Change]) -> Delivery:
        delivery = Delivery()
        upserts = [c for c in changes if c.action in (ADD, UPDATE)]
        leaving = [c for c in changes if c.action == REMOVE and c.reason == LEFT]
        opting_out = [c for c in changes if c.action == REMOVE and c.reason != LEFT]
        if upserts or leaving or opting_out:
            self._ensure_tag(delivery)
        self._move(upserts, delivery)
        subscribed = self._upsert([c for c in upserts if c.contact_id not in delivery.failed], delivery)
        self._tag(subscribed, add=True, delivery=delivery)
        if self.on_leave == "archive":
            self._archive(leaving, delivery)
        else:
            self._tag(leaving, add=False, delivery=delivery)
        self._unsubscribe(opting_out, delivery)
        return delivery

    # Members ------------------------------------------------------------------------------

    def _upsert(self, changes: Sequence[Change], delivery: Delivery) -> list[Change]:
        """Batch-subscribe or update; return the changes Mailchimp accepted."""

        def member(change: Change) -> dict[str, Any]:
            merge = {k: v for k, v in (("FNAME", change.first_name), ("LNAME", change.last_name)) if v}
            body: dict[str, Any] = {"email_address": change.email, "status": "subscribed"}
            if merge:
                body["merge_fields"] = merge
            return body

        accepted: list[Change] = []
        for part, body in self._parallel(changes, self._batch_members, member, delivery):
            errors = _errors_by_email(body.get("errors") or [], "email_address")
            for change in part:
                error = errors.get((change.email or "").lower())
                if error is None:
                    accepted.append(change)
                elif COMPLIANCE in error.lower():
                    delivery.refused[change.contact_id] = error
                else:
                    delivery.failed[change.contact_id] = error
        return accepted

    def _move(self, changes: Sequence[Change], delivery: Delivery) -> None:
        """Change the address of members whose email changed, so the old one is not left subscribed.

        The member keeps its history and tags. If the new address is a member already, the old
        member is archived instead. A failure fails the contact (the update is tried again).
        """
        moved = [
            c for c in changes if c.previous_email and c.previous_email.lower() != (c.email or "").lower()
        ]

        def move(change: Change) -> None:
            old = f"{self.base}/lists/{self.list_id}/members/{subscriber_hash(change.previous_email or '')}"
            body = {"email_address": change.email}
            response = self.http.request("PATCH", old, json=body, accept=(400, 404))
            if response.status_code == 400:  # the new address is on the list already
                self.http.request("DELETE", old, accept=(404,))

        with ThreadPoolExecutor(MAX_CONNECTIONS) as pool:
            for change, error in zip(moved, pool.map(_capture(move), moved), strict=True):
                if error is not None:
                    delivery.failed[change.contact_id] = error

    def _batch_members(self, members: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.http.request(
            "POST", f"{self.base}/lists/{self.list_id}", json={"members": members, "update_existing": True}
        )
        return _json_of(response)

    def _unsubscribe(self, changes: Sequence[Change], delivery: Delivery) -> None:
        """Unsubscribe members who may no longer be marketed to, and take the tag off them."""

        def member(change: Change) -> dict[str, Any]:
            return {"email_address": change.email, "status": "unsubscribed"}

        done: list[Change] = []
        for part, body in self._parallel(changes, self._batch_members, member, delivery):
            errors = _errors_by_email(body.get("errors") or [], "email_address")
            for change in part:
                error = errors.get((change.email or "").lower())
                if error is None or COMPLIANCE in error.lower():
                    done.append(change)  # already unsubscribed or cleaned there: nothing to do
                else:
                    delivery.failed[change.contact_id] = error
        self._tag(done, add=False, delivery=delivery)

    def _archive(self, changes: Sequence[Change], delivery: Delivery) -> None:
        def archive(change: Change) -> None:
            url = f"{self.base}/lists/{self.list_id}/members/{subscriber_hash(change.email or '')}"
            self.http.request("DELETE", url, accept=(404,))  # 404: not (or no longer) in the audience

        with ThreadPoolExecutor(MAX_CONNECTIONS) as pool:
            for change, error in zip(changes, pool.map(_capture(archive), changes), strict=True):
                if error is None:
                    delivery.done[change.contact_id] = None
                else:
                    delivery.failed[change.contact_id] = error

    # The tag ------------------------------------------------------------------------------

    def _ensure_tag(self, delivery: Delivery) -> None:
        if self.tag_id is not None:
            return
        url = f"{self.base}/lists/{self.list_id}/segments"
        response = self.http.request(
            "POST", url, json={"name": self.tag, "static_segment": []}, accept=(400,)
        )
        if response.status_code == 400:  # the tag exists already: find it by name
            self.tag_id = self._find_tag()
        else:
            self.tag_id = int(_json_of(response)["id"])
        delivery.config["tag_id"] = self.tag_id

    def _find_tag(self) -> int:
        offset = 0
        while True:
            response = self.http.request(
                "GET",
                f"{self.base}/lists/{self.list_id}/segments",
                params={
                    "type": "static",
                    "count": 1000,
                    "offset": offset,
                    "fields": "segments.id,segments.name,total_items",
                },
            )
            body = _json_of(response)
            for segment in body.get("segments") or []:
                if segment.get("name") == self.tag:
                    return int(segment["id"])
            offset += 1000
            if offset >= int(body.get("total_items") or 0):
                raise FatalConnectorError(
                    f"Mailchimp refused to create the tag {self.tag!r} and has none by that name"
                )

    def _tag(self, changes: Sequence[Change], *, add: bool, delivery: Delivery) -> None:
        """Tag or untag members; the changes count as done unless Mailchimp reports an error for them."""
        field = "members_to_add" if add else "members_to_remove"

        def call(emails: list[str]) -> dict[str, Any]:
            used = self.tag_id
            url = f"{self.base}/lists/{self.list_id}/segments/{used}"
            response = self.http.request("POST", url, json={field: emails}, accept=(404,))
            if response.status_code == 404:  # the tag was deleted in Mailchimp: make it again, once
                with self.tag_lock:
                    if self.tag_id == used:
                        self.tag_id = None
                        self._ensure_tag(delivery)
                url = f"{self.base}/lists/{self.list_id}/segments/{self.tag_id}"
                response = self.http.request("POST", url, json={field: emails})
            return _json_of(response)

        for part, body in self._parallel(changes, call, lambda c: c.email, delivery):
            errors: dict[str, str] = {}
            for error in body.get("errors") or []:
                for email in error.get("email_addresses") or []:
                    errors[str(email).lower()] = str(error.get("error"))
            delivery.by_address(part, errors)

    def _parallel(
        self,
        changes: Sequence[Change],
        call: Callable[[list[Any]], dict[str, Any]],
        item: Callable[[Change], Any],
        delivery: Delivery,
    ) -> Iterable[tuple[Sequence[Change], dict[str, Any]]]:
        """Run `call` over 500-change parts on at most MAX_CONNECTIONS connections; yield (part, body).

        A part whose call failed has its contacts recorded as failed; a rejected key stops everything.
        """
        parts = chunks(changes, MAX_MEMBERS_PER_CALL)
        if not parts:
            return []
        with ThreadPoolExecutor(min(MAX_CONNECTIONS, len(parts))) as pool:
            futures = [pool.submit(call, [item(c) for c in part]) for part in parts]
        results = []
        for part, future in zip(parts, futures, strict=True):
            try:
                results.append((part, future.result()))
            except CredentialsRejected:
                raise
            except ConnectorError as exc:
                delivery.failed.update(dict.fromkeys((c.contact_id for c in part), str(exc)))
        return results


def _capture(func: Callable[[Change], None]) -> Callable[[Change], str | None]:
    def run(change: Change) -> str | None:
        try:
            func(change)
        except CredentialsRejected:
            raise
        except ConnectorError as exc:
            return str(exc)
        return None

    return run


def _errors_by_email(errors: list[dict[str, Any]], key: str) -> dict[str, str]:
    return {
        str(e.get(key) or "").lower(): str(e.get("error") or e.get("error_code") or "error") for e in errors
    }


def _json_of(response: Any) -> dict[str, Any]:
    return json_object(response, "Mailchimp")


class MailchimpSettings(Schema):
    list_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    on_leave = fields.String(load_default="untag", validate=validate.OneOf(["untag", "archive"]))


class MailchimpCredentials(Schema):
    api_key = fields.String(required=True, validate=validate.Regexp(r"^[^\s]+-[a-z]+\d+$"))


def open_audience(opening: Opening) -> MailchimpAudience:
    """Open the audience a run delivers to; a key naming no data center is rejected as credentials."""
    try:
        data_center(opening.secrets.get("api_key", ""))
    except ConfigError as exc:
        raise CredentialsRejected(str(exc)) from exc
    return MailchimpAudience(
        opening.secrets["api_key"],
        opening.config["list_id"],
        opening.tag,
        tag_id=opening.target.config.get("tag_id"),
        on_leave=opening.config.get("on_leave", "untag"),
        http=opening.http("Mailchimp"),
        base_url=opening.config.get("base_url"),
        redis=opening.redis,
    )
