"""Local stand-ins for Shopify, Mailchimp and Klaviyo that enforce their documented limits.

Each runs in its own process (a threaded HTTP server) so that serving does not slow the client.
What each enforces and how long it takes to answer:

- Mailchimp: at most 10 simultaneous connections per API key (the 11th gets 429) and at most 500
  members per batch or tag call (400 beyond). A call takes MAILCHIMP_BASE_SECONDS plus
  MAILCHIMP_PER_MEMBER_SECONDS per member. The ceiling is the sum of those service times over
  10 connections: what the calls needed would take with all ten busy all the time.
- Klaviyo: each endpoint's fixed windows (bulk import jobs and their reads 10/s and 150/min,
  profile reads 75/s and 750/min; 429 with `Retry-After` beyond), at most 10,000 profiles a job.
  A job completes KLAVIYO_JOB_BASE_SECONDS plus KLAVIYO_PER_PROFILE_SECONDS per profile after it
  was accepted. The ceiling is the best schedule: jobs posted at the burst rate, each done after
  its processing time.
- Shopify: the GraphQL cost bucket of the Standard plan (restore 100 points/s, maximum
  SHOPIFY_BUCKET; a tag mutation costs 10, other fields 1; THROTTLED beyond) and bulk mutations,
  which run outside the bucket and work through SHOPIFY_BULK_LINES_PER_SECOND lines a second.

`GET /stats` on each returns what it received and did, for checking that nothing was lost.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context
from typing import Any
from urllib.parse import parse_qs, urlparse

MAILCHIMP_BASE_SECONDS = 0.25
MAILCHIMP_PER_MEMBER_SECONDS = 0.0005  # a full call of 500 takes half a second
MAILCHIMP_CONNECTIONS = 10
MAILCHIMP_MEMBERS = 500
KLAVIYO_JOB_BASE_SECONDS = 2.0
KLAVIYO_PER_PROFILE_SECONDS = 0.0002  # a job of 10,000 takes 4 s
KLAVIYO_WINDOWS = {"bulk": (10, 150), "profiles": (75, 750)}
KLAVIYO_JOB_PROFILES = 10_000
SHOPIFY_RESTORE = 100.0  # points a second: the Standard plan
SHOPIFY_BUCKET = 2000.0
SHOPIFY_TAG_COST = 10
SHOPIFY_BULK_LINES_PER_SECOND = 5000


@dataclass
class State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counters: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    data: dict[str, Any] = field(default_factory=dict)

    def count(self, name: str, amount: float = 1) -> None:
        with self.lock:
            self.counters[name] += amount


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def stats(self) -> None:
        with self.state.lock:
            snapshot = {"counters": dict(self.state.counters), **self.summary()}
        self.answer(200, snapshot)

    def summary(self) -> dict[str, Any]:
        return {}


# Mailchimp -------------------------------------------------------------------------------------


class Mailchimp(Handler):
    def summary(self) -> dict[str, Any]:
        members = self.state.data.setdefault("members", {})
        tagged = self.state.data.setdefault("tagged", set())
        names = self.state.data.setdefault("names", {})
        return {
            "subscribed": sum(1 for s in members.values() if s == "subscribed"),
            "tagged": len(tagged),
            "renamed": sum(1 for n in names.values() if (n or "").startswith("Renamed")),
        }

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.stats()

    def do_POST(self) -> None:  # noqa: N802
        key = self.headers.get("Authorization", "")
        body = json.loads(self.body() or b"{}")
        state = self.state
        with state.lock:
            inflight = state.data.setdefault("inflight", defaultdict(int))
            inflight[key] += 1
            state.counters["peak_connections"] = max(state.counters["peak_connections"], inflight[key])
            over = inflight[key] > MAILCHIMP_CONNECTIONS
        try:
            if over:
                state.count("refused_429")
                self.answer(429, {"title": "Too Many Requests", "status": 429, "detail": "10 connections"})
                return
            self.route(body)
        finally:
            with state.lock:
                inflight[key] -= 1

    def serve(self, items: int) -> None:
        seconds = MAILCHIMP_BASE_SECONDS + MAILCHIMP_PER_MEMBER_SECONDS * items
        self.state.count("service_seconds", seconds)
        self.state.count("calls")
        time.sleep(seconds)

    def route(self, body: dict[str, Any]) -> None:
        path = urlparse(self.path).path
        state = self.state
        if re.fullmatch(r".*/lists/[^/]+", path):
            members = body.get("members") or []
            if len(members) > MAILCHIMP_MEMBERS:
                self.answer(400, {"title": "Invalid Resource", "status": 400, "detail": "too many members"})
                return
            self.serve(len(members))
            with state.lock:
                stored = state.data.setdefault("members", {})
                names = state.data.setdefault("names", {})
                for m in members:
                    stored[m["email_address"]] = m["status"]
                    names[m["email_address"]] = (m.get("merge_fields") or {}).get("FNAME")
                state.counters["members_received"] += len(members)
            self.answer(200, {"new_members": [], "updated_members": [], "errors": [], "error_count": 0})
        elif path.endswith("/segments"):
            self.serve(0)
            self.answer(200, {"id": 1, "name": body.get("name")})
        elif re.fullmatch(r".*/segments/\d+", path):
            add, remove = body.get("members_to_add") or [], body.get("members_to_remove") or []
            if len(add) > MAILCHIMP_MEMBERS or len(remove) > MAILCHIMP_MEMBERS:
                self.answer(400, {"title": "Invalid Resource", "status": 400, "detail": "at most 500"})
                return
            self.serve(len(add) + len(remove))
            with state.lock:
                tagged = state.data.setdefault("tagged", set())
                tagged.update(add)
                tagged.difference_update(remove)
            self.answer(200, {"members_added": [], "members_removed": [], "errors": [], "error_count": 0})
        else:
            self.answer(404, {"title": "Not Found", "status": 404})


# Klaviyo ---------------------------------------------------------------------------------------


class Klaviyo(Handler):
    def summary(self) -> dict[str, Any]:
        jobs = self.state.data.setdefault("jobs", {})
        listed = self.state.data.setdefault("list", set())
        now = time.monotonic()
        for job in jobs.values():
            if not job["applied"] and now >= job["ready"]:
                listed.update(job["emails"])
                job["applied"] = True
        return {"listed": len(listed), "jobs": len(jobs)}

    def admit(self, endpoint: str, limits: tuple[int, int]) -> bool:
        """Fixed one-second and one-minute windows per endpoint, as Klaviyo documents."""
        now = time.time()
        second, minute = int(now), int(now // 60)
        with self.state.lock:
            windows = self.state.data.setdefault("windows", defaultdict(int))
            if windows[(endpoint, "s", second)] >= limits[0] or windows[(endpoint, "m", minute)] >= limits[1]:
                retry = (
                    (second + 1 - now)
                    if windows[(endpoint, "s", second)] >= limits[0]
                    else (60 * (minute + 1) - now)
                )
                self.state.counters["refused_429"] += 1
                refused = True
            else:
                windows[(endpoint, "s", second)] += 1
                windows[(endpoint, "m", minute)] += 1
                refused = False
        if refused:
            error = {"id": "x", "code": "throttled", "title": "Request was throttled.", "detail": "throttled"}
            self.answer(429, {"errors": [error]}, {"Retry-After": str(math.ceil(retry))})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        path = urlparse(self.path).path
        if path == "/stats":
            self.stats()
            return
        job = re.fullmatch(r"/api/profile-bulk-import-jobs/([^/]+)", path)
        if job:
            if not self.admit("job", KLAVIYO_WINDOWS["bulk"]):
                return
            self.state.count("calls")
            with self.state.lock:
                record = self.state.data["jobs"][job.group(1)]
                done = time.monotonic() >= record["ready"]
            attributes = {"status": "complete" if done else "processing", "failed_count": 0}
            self.answer(
                200,
                {"data": {"type": "profile-bulk-import-job", "id": job.group(1), "attributes": attributes}},
            )
            return
        if path == "/api/profiles":
            if not self.admit("profiles", KLAVIYO_WINDOWS["profiles"]):
                return
            query = parse_qs(urlparse(self.path).query)
            emails = json.loads(query["filter"][0].removeprefix("any(email,").removesuffix(")"))
            data = [{"type": "profile", "id": "P" + e, "attributes": {"email": e}} for e in emails]
            self.answer(200, {"data": data, "links": {"next": None}})
            return
        self.answer(404, {"errors": []})

    def do_POST(self) -> None:  # noqa: N802
        raw = self.body()
        if urlparse(self.path).path != "/api/profile-bulk-import-jobs":
            self.answer(404, {"errors": []})
            return
        if not self.admit("jobs", KLAVIYO_WINDOWS["bulk"]):
            return
        profiles = json.loads(raw)["data"]["attributes"]["profiles"]["data"]
        if len(profiles) > KLAVIYO_JOB_PROFILES or len(raw) > 5_000_000:
            self.answer(
                400, {"errors": [{"id": "x", "code": "invalid", "title": "too large", "detail": "too large"}]}
            )
            return
        now = time.monotonic()
        with self.state.lock:
            jobs = self.state.data.setdefault("jobs", {})
            job_id = f"job{len(jobs) + 1}"
            jobs[job_id] = {
                "emails": [p["attributes"]["email"] for p in profiles],
                "accepted_at": now,
                "ready": now + KLAVIYO_JOB_BASE_SECONDS + KLAVIYO_PER_PROFILE_SECONDS * len(profiles),
                "applied": False,
            }
            self.state.counters["profiles_received"] += len(profiles)
            self.state.counters["calls"] += 1
        self.answer(
            202,
            {"data": {"type": "profile-bulk-import-job", "id": job_id, "attributes": {"status": "queued"}}},
        )

    def do_DELETE(self) -> None:  # noqa: N802
        raw = self.body()
        if not self.admit("membership", KLAVIYO_WINDOWS["bulk"]):
            return
        ids = [item["id"] for item in json.loads(raw)["data"]]
        with self.state.lock:
            listed = self.state.data.setdefault("list", set())
            listed.difference_update(i.removeprefix("P") for i in ids)
        self.answer(204)


# Shopify ---------------------------------------------------------------------------------------


class Shopify(Handler):
    def summary(self) -> dict[str, Any]:
        tags = self.state.data.setdefault("tags", {})
        return {
            "tagged": sum(1 for t in tags.values() if t),
            "bulk_seconds": self.state.data.get("bulk_seconds", []),
        }

    def bucket(self, cost: float) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        with self.state.lock:
            available = self.state.data.get("available", SHOPIFY_BUCKET)
            then = self.state.data.get("at", now)
            available = min(SHOPIFY_BUCKET, available + (now - then) * SHOPIFY_RESTORE)
            admitted = available >= cost
            if admitted:
                available -= cost
            self.state.data["available"], self.state.data["at"] = available, now
        status = {
            "maximumAvailable": SHOPIFY_BUCKET,
            "currentlyAvailable": available,
            "restoreRate": SHOPIFY_RESTORE,
        }
        return admitted, {
            "cost": {
                "requestedQueryCost": cost,
                "actualQueryCost": cost if admitted else None,
                "throttleStatus": status,
            }
        }

    def do_GET(self) -> None:  # noqa: N802
        path = urlparse(self.path).path
        if path == "/stats":
            self.stats()
            return
        result = re.fullmatch(r"/results/(\d+)\.jsonl", path)
        if not result:
            self.answer(404)
            return
        with self.state.lock:
            operation = self.state.data["operations"][int(result.group(1))]
        lines = []
        for number in range(len(operation["lines"])):
            lines.append(
                json.dumps({"data": {operation["field"]: {"userErrors": []}}, "__lineNumber": number})
            )
        self.answer(200, ("\n".join(lines) + "\n").encode())

    def do_POST(self) -> None:  # noqa: N802
        raw = self.body()
        path = urlparse(self.path).path
        if path == "/upload":
            boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
            parts = [p for p in raw.split(b"--" + boundary) if b"name=" in p]
            key = parts[0].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n").decode()
            content = parts[-1].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
            with self.state.lock:
                self.state.data.setdefault("uploads", {})[key] = content.decode().splitlines()
            self.answer(201)
            return
        request = json.loads(raw)
        query, variables = request["query"], request.get("variables") or {}
        mutations = len(re.findall(r"\btags(?:Add|Remove)\(", query))
        cost = (
            SHOPIFY_TAG_COST * mutations
            if mutations and "bulkOperationRunMutation" not in query
            else 10
            if "mutation" in query
            else 1
        )
        admitted, extensions = self.bucket(cost)
        if not admitted:
            self.state.count("throttled")
            throttled = [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
            self.answer(200, {"errors": throttled, "extensions": extensions})
            return
        self.state.count("calls")
        self.answer(200, {"data": self.graphql(query, variables), "extensions": extensions})

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        state = self.state
        if "stagedUploadsCreate" in query:
            key = f"tmp/{time.monotonic_ns()}/vars.jsonl"
            target = {
                "url": f"{host}/upload",
                "resourceUrl": None,
                "parameters": [{"name": "key", "value": key}],
            }
            return {"stagedUploadsCreate": {"stagedTargets": [target], "userErrors": []}}
        if "bulkOperationRunMutation" in query:
            with state.lock:
                lines = state.data["uploads"].pop(variables["path"])
                operations = state.data.setdefault("operations", [])
                field_name = "tagsAdd" if "tagsAdd" in variables["mutation"] else "tagsRemove"
                seconds = len(lines) / SHOPIFY_BULK_LINES_PER_SECOND
                operations.append({"lines": lines, "field": field_name, "ready": time.monotonic() + seconds})
                state.data.setdefault("bulk_seconds", []).append(seconds)
                number = len(operations) - 1
                self.apply(field_name, [json.loads(line) for line in lines])
            operation = {"id": f"gid://shopify/BulkOperation/{number}", "status": "CREATED"}
            return {"bulkOperationRunMutation": {"bulkOperation": operation, "userErrors": []}}
        if "BulkOperation" in query:
            number = int(variables["id"].rsplit("/", 1)[-1])
            with state.lock:
                operation = state.data["operations"][number]
            done = time.monotonic() >= operation["ready"]
            node = {"id": variables["id"], "status": "COMPLETED" if done else "RUNNING", "errorCode": None}
            node |= {"url": f"{host}/results/{number}.jsonl" if done else None, "partialDataUrl": None}
            return {"node": node}
        data = {}
        field_name = "tagsAdd" if "tagsAdd" in query else "tagsRemove"
        calls = [{"id": v, "tags": variables["tags"]} for k, v in variables.items() if k.startswith("id")]
        with state.lock:
            self.apply(field_name, calls)
        for name in (k for k in variables if k.startswith("id")):
            data["m" + name[2:]] = {"userErrors": []}
        return data

    def apply(self, field_name: str, calls: list[dict[str, Any]]) -> None:
        tags = self.state.data.setdefault("tags", {})
        for call in calls:
            current = tags.setdefault(call["id"], set())
            if field_name == "tagsAdd":
                current.update(call["tags"])
            else:
                current.difference_update(call["tags"])
        self.state.counters["mutations"] += len(calls)


HANDLERS = {"mailchimp": Mailchimp, "klaviyo": Klaviyo, "shopify": Shopify}


def _serve(name: str, ports: Any) -> None:
    handler = type(name.capitalize(), (HANDLERS[name],), {"state": State()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    ports.put(server.server_address[1])
    server.serve_forever()


def start(name: str) -> tuple[str, Any]:
    """Start a stand-in in its own process; return its base URL and the process."""
    context = get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(name, ports), daemon=True)
    process.start()
    return f"http://127.0.0.1:{ports.get(timeout=30)}", process
