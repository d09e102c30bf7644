"""SIGTERM to the web process, started as Procfile starts it: the request in flight is answered."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.processes import REPOSITORY, RestartableRedis, process_env, wait_for
from tests.support.servers import reserved_port


def procfile_command(name: str) -> str:
    for line in (REPOSITORY / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} process in the Procfile")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - a loopback URL we built
            return bool(answer.status == 200)
    except OSError:
        return False


def test_sigterm_lets_the_web_process_answer_the_request_in_flight(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis
) -> None:
    with reserved_port() as port:
        env = process_env(
            tmp_path,
            database_url,
            test_redis.url,
            PORT=str(port),
            WEB_CONCURRENCY="1",
            SHOPIFY_API_KEY="0123456789abcdef0123456789abcdef",
            SHOPIFY_API_SECRET="shpss_web_shutdown_test",
        )
        log = (tmp_path / "web.log").open("wb")
        web = subprocess.Popen(
            ["bash", "-c", f"exec {procfile_command('web')}"],
            env=env, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(lambda: answers(f"http://127.0.0.1:{port}/ping"), "the web process to answer")
            body = b'{"id": 1}'
            with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                # A delivery's head and half its body: the view is reading it when SIGTERM comes. Its
                # signature is wrong: the answer (401) comes only once the whole body is read.
                client.sendall(
                    b"POST /webhooks/shopify HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Type: application/json\r\nX-Shopify-Hmac-Sha256: bm90IGEgc2lnbmF0dXJl\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body[:4]
                )
                time.sleep(0.5)
                web.send_signal(signal.SIGTERM)
                time.sleep(1.0)
                client.sendall(body[4:])
                answer = client.recv(4096)
            assert answer.startswith(b"HTTP/1.1 401"), answer
            assert web.wait(timeout=60) == 0
        finally:
            if web.poll() is None:
                web.kill()
                web.wait()
            log.close()
