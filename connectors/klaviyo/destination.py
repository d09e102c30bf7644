"""A Klaviyo list kept equal to a segment: profiles through bulk import jobs, removals by profile id.

- Adds and updates: `POST /api/profile-bulk-import-jobs` with up to 10,000 profiles and at most
  5,000,000 bytes a request (the documented 5 MB, read as the stricter decimal megabytes), attached
  to the list; bodies are UTF-8 JSON, not `\\uXXXX` escapes, and jobs are split by the very bytes
  sent. The job is polled until complete and its import errors are recorded per contact (matched
  by the email of the failing payload).
- Removals: `DELETE /api/lists/{id}/relationships/profiles`, 1,000 profile ids a call; ids not
  known yet are looked up by email (`GET /api/profiles?filter=any(email,[…])`, 100 a call).
  Removing from a list does not change consent in Klaviyo, and storepulse never calls Klaviyo's
  subscribe endpoints (they lift unsubscribes and suppressions).
- Every call carries the pinned `revision`. Calls are paced per endpoint at Klaviyo's documented
  rates (burst per second and steady per minute, each window counted with a margin), per API key
  across every list and process (in Redis when given, `connectors.limits`); when
  `RateLimit-Remaining` reaches zero every caller of the key waits for `RateLimit-Reset`, and a 429
  holds them all for its `Retry-After`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import requests
from marshmallow import Schema, fields, validate
from redis import Redis

from connectors.http import Http, brief, json_object
from connectors.limits import Pace, key_digest
from connectors.opening import Opening
from integration.contract import ADD, REMOVE, UPDATE, Change, Delivery
from integration.errors import (
    ConnectorError,
    CredentialsRejected,
    FatalConnectorError,
    RetriableConnectorError,
)

BASE_URL = "https://a.klaviyo.com"
REVISION = "2026-07-15"
MAX_PROFILES_PER_JOB = 10_000
# Klaviyo documents "5MB" a request: 5,000,000 bytes is the stricter reading (not 5 * 1024**2).
MAX_JOB_BYTES = 5_000_000
MAX_IDS_PER_CALL = 1000
MAX_EMAILS_PER_LOOKUP = 100
POLL_SECONDS = 1.0  # between reads of a job's status (paced to the endpoint's rate)
MAX_JOB_WAIT_SECONDS = 600.0
MEDIA_TYPE = "application/vnd.api+json"

# Documented rates per endpoint: windows of (seconds, calls), burst and steady.
BULK_RATE = ((1.0, 10), (60.0, 150))  # bulk import jobs and their reads, list relationships
PROFILES_RATE = ((1.0, 75), (60.0, 750))


class KlaviyoList:
    """Deliver a sync's changes to one Klaviyo list."""

    name = "klaviyo"
    batch_size = MAX_PROFILES_PER_JOB  # one import job a batch,
    concurrency = 10  # and up to ten jobs running side by side at Klaviyo

    def __init__(
        self,
        api_key: str,
        list_id: str,
        *,
        http: Http | None = None,
        base_url: str = BASE_URL,
        redis: Redis | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.list_id = list_id
        self.http = http or Http("Klaviyo")
        self.http.session.headers.update(
            {
                "Authorization": f"Klaviyo-API-Key {api_key}",
                "revision": REVISION,
                "Accept": MEDIA_TYPE,
                "Content-Type": MEDIA_TYPE,
            }
        )
        # Klaviyo limits each endpoint on its own, per account: shared by every list of the key.
        digest = key_digest(api_key)
        self.paces = {
            name: Pace.shared(f"klaviyo:{digest}:{name}", BULK_RATE, redis)
            for name in ("jobs", "job", "errors", "membership")
        }
        self.paces["profiles"] = Pace.shared(f"klaviyo:{digest}:profiles", PROFILES_RATE, redis)

    def deliver(self, changes: Sequence[Change]) -> Delivery:
        delivery = Delivery()
        upserts = [c for c in changes if c.action in (ADD, UPDATE)]
        parts = _parts(upserts, self.list_id)
        submitted = [job for part in parts if (job := self._submit(part, delivery))]
        for job_id, part in submitted:
            self._collect(job_id, part, delivery)
        removals = [c for c in changes if c.action == REMOVE]
        # A changed address is a new profile in Klaviyo: the old one leaves the list.
        moved = [
            Change(action=REMOVE, contact_id=-c.contact_id, email=c.previous_email)
            for c in upserts
            if c.previous_email
            and c.previous_email.lower() != (c.email or "").lower()
            and c.contact_id in delivery.done
        ]
        self._remove([*removals, *moved], delivery)
        for change in moved:
            delivery.done.pop(change.contact_id, None)
            delivery.failed.pop(change.contact_id, None)
        return delivery

    def _call(self, pace: Pace, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base}{path}"
        return self.http.request(method, url, gate=pace.gate, observe=pace.observe, **kwargs)

    def _submit(self, changes: Sequence[Change], delivery: Delivery) -> tuple[str, Sequence[Change]] | None:
        """Post one import job; return its id and the changes in it (None: nothing went out)."""
        try:
            return self._post_valid(changes, delivery)
        except CredentialsRejected:
            raise
        except ConnectorError as exc:
            delivery.failed.update(dict.fromkeys((c.contact_id for c in changes), str(exc)))
            return None

    def _post_valid(
        self, changes: Sequence[Change], delivery: Delivery
    ) -> tuple[str, Sequence[Change]] | None:
        response = self._post_job(changes)
        if response.status_code == 400:
            # JSON:API errors point at the profiles they are about: those fail, the rest goes again.
            rejected = _rejected_profiles(_json_of(response), len(changes))
            if not rejected:
                raise FatalConnectorError(f"Klaviyo refused the import job: {brief(response)}")
            for index, error in rejected.items():
                delivery.failed[changes[index].contact_id] = error
            changes = [c for i, c in enumerate(changes) if i not in rejected]
            if not changes:
                return None
            response = self._post_job(changes)
            if response.status_code == 400:
                raise FatalConnectorError(f"Klaviyo refused the import job: {brief(response)}")
        return str(_json_of(response)["data"]["id"]), changes

    def _collect(self, job_id: str, changes: Sequence[Change], delivery: Delivery) -> None:
        """Wait for a job and record each of its profiles as imported or failed."""
        try:
            attributes = self._wait_for(job_id)
        except CredentialsRejected:
            raise
        except ConnectorError as exc:
            delivery.failed.update(dict.fromkeys((c.contact_id for c in changes), str(exc)))
            return
        failures: dict[str, str] = {}
        if int(attributes.get("failed_count") or 0):
            failures = self._import_errors(job_id)
        delivery.by_address(changes, failures)

    def _post_job(self, changes: Sequence[Change]) -> requests.Response:
        profiles = [_profile(c) for c in changes]
        body = encode(_job(self.list_id, profiles))
        if len(body) > MAX_JOB_BYTES:  # _parts keeps every job under the limit; never send one over it
            raise FatalConnectorError(f"an import job of {len(body)} bytes is over Klaviyo's limit")
        return self._call(
            self.paces["jobs"], "POST", "/api/profile-bulk-import-jobs", data=body, accept=(400,)
        )

    def _wait_for(self, job_id: str) -> dict[str, Any]:
        waited = 0.0
        while True:
            response = self._call(self.paces["job"], "GET", f"/api/profile-bulk-import-jobs/{job_id}")
            attributes: dict[str, Any] = _json_of(response)["data"]["attributes"]
            status = attributes.get("status")
            if status == "complete":
                return attributes
            if status == "cancelled":
                raise FatalConnectorError(f"Klaviyo cancelled the import job {job_id}")
            if waited >= MAX_JOB_WAIT_SECONDS:
                raise RetriableConnectorError(f"Klaviyo's import job {job_id} is still {status}")
            self.http.sleep(POLL_SECONDS)
            waited += POLL_SECONDS

    def _import_errors(self, job_id: str) -> dict[str, str]:
        errors: dict[str, str] = {}
        url: str | None = f"/api/profile-bulk-import-jobs/{job_id}/import-errors?page[size]=100"
        while url:
            body = _json_of(self._call(self.paces["errors"], "GET", url))
            for item in body.get("data") or []:
                attributes = item.get("attributes") or {}
                payload = attributes.get("original_payload") or {}
                email = str(payload.get("email") or (payload.get("attributes") or {}).get("email") or "")
                errors[email.lower()] = str(
                    attributes.get("detail") or attributes.get("title") or "import error"
                )
            following = (body.get("links") or {}).get("next")
            url = following.removeprefix(self.base) if following else None
        return errors

    def _remove(self, changes: Sequence[Change], delivery: Delivery) -> None:
        if not changes:
            return
        ids = {c.contact_id: c.remote_id for c in changes if c.remote_id}
        unknown = [c for c in changes if not c.remote_id and c.email]
        try:
            found = self._profile_ids([c.email for c in unknown if c.email])
        except CredentialsRejected:
            raise
        except ConnectorError as exc:  # these wait for the next run; the rest goes on
            delivery.failed.update(dict.fromkeys((c.contact_id for c in unknown), str(exc)))
            unknown, found = [], {}
        for change in unknown:
            profile_id = found.get((change.email or "").lower())
            if profile_id is None:
                delivery.done[change.contact_id] = None  # never reached Klaviyo: nothing to remove
            else:
                ids[change.contact_id] = profile_id
        pairs = list(ids.items())
        for start in range(0, len(pairs), MAX_IDS_PER_CALL):
            part = pairs[start : start + MAX_IDS_PER_CALL]
            body = {"data": [{"type": "profile", "id": profile_id} for _, profile_id in part]}
            try:
                self._call(
                    self.paces["membership"],
                    "DELETE",
                    f"/api/lists/{self.list_id}/relationships/profiles",
                    data=encode(body),
                )
            except CredentialsRejected:
                raise
            except ConnectorError as exc:
                delivery.failed.update(dict.fromkeys((contact_id for contact_id, _ in part), str(exc)))
                continue
            delivery.done.update({contact_id: profile_id for contact_id, profile_id in part})

    def _profile_ids(self, emails: Sequence[str]) -> dict[str, str]:
        """Klaviyo's profile ids of these addresses (those it has)."""
        found: dict[str, str] = {}
        for start in range(0, len(emails), MAX_EMAILS_PER_LOOKUP):
            part = emails[start : start + MAX_EMAILS_PER_LOOKUP]
            params = {
                "filter": f"any(email,{json.dumps(list(part))})",
                "page[size]": str(MAX_EMAILS_PER_LOOKUP),
                "fields[profile]": "email",
            }
            body = _json_of(self._call(self.paces["profiles"], "GET", "/api/profiles", params=params))
            for profile in body.get("data") or []:
                email = str((profile.get("attributes") or {}).get("email") or "").lower()
                found[email] = str(profile["id"])
        return found


def encode(body: Any) -> bytes:
    """The JSON body as sent: UTF-8, compact (Klaviyo counts a request's limit in these bytes)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _profile(change: Change) -> dict[str, Any]:
    return {"type": "profile", "attributes": _attributes(change)}


def _job(list_id: str, profiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": profiles}},
            "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
        }
    }


def _attributes(change: Change) -> dict[str, Any]:
    attributes: dict[str, Any] = {"email": change.email}
    if change.first_name:
        attributes["first_name"] = change.first_name
    if change.last_name:
        attributes["last_name"] = change.last_name
    return attributes


PROFILE_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)(/|$)")


def _rejected_profiles(body: dict[str, Any], count: int) -> dict[int, str]:
    """Map the errors of a refused job to the positions of the profiles they point at."""
    rejected: dict[int, str] = {}
    for error in body.get("errors") or []:
        pointer = str((error.get("source") or {}).get("pointer") or "")
        match = PROFILE_POINTER.match(pointer)
        if match and int(match.group(1)) < count:
            rejected[int(match.group(1))] = str(error.get("detail") or error.get("title") or "invalid")
    return rejected


def _parts(changes: Sequence[Change], list_id: str) -> list[Sequence[Change]]:
    """Split into jobs of at most MAX_PROFILES_PER_JOB profiles and MAX_JOB_BYTES encoded bytes."""
    envelope = len(encode(_job(list_id, [])))
    parts: list[Sequence[Change]] = []
    start, size = 0, envelope
    for index, change in enumerate(changes):
        weight = len(encode(_profile(change))) + (index > start)  # a comma between two profiles
        if index > start and (index - start >= MAX_PROFILES_PER_JOB or size + weight > MAX_JOB_BYTES):
            parts.append(changes[start:index])
            start, size = index, envelope
            weight -= 1  # the first profile of a job has no comma before it
        size += weight
    if start < len(changes):
        parts.append(changes[start:])
    return parts


def _json_of(response: Any) -> dict[str, Any]:
    return json_object(response, "Klaviyo")


class KlaviyoSettings(Schema):
    list_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class KlaviyoCredentials(Schema):
    api_key = fields.String(required=True, validate=validate.Length(min=8, max=200))


def open_list(opening: Opening) -> KlaviyoList:
    """Open the list a run delivers to (`base_url` in the settings points elsewhere, for tests)."""
    return KlaviyoList(
        opening.secrets["api_key"],
        opening.config["list_id"],
        http=opening.http("Klaviyo"),
        redis=opening.redis,
        **({"base_url": opening.config["base_url"]} if opening.config.get("base_url") else {}),
    )
