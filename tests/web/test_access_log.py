"""The access log keeps requests, not the secrets their URLs carry."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from integration.web.access_log import AccessLogger, redact


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            "POST /webhooks/email/mailchimp/12/Zm9vYmFy-secret HTTP/1.1",
            "POST /webhooks/email/mailchimp/12/[redacted] HTTP/1.1",
        ),
        ("/webhooks/email/mailchimp/12/s3cret?x=1", "/webhooks/email/mailchimp/12/[redacted]?x=1"),
        ("GET /exports/eyJleHBvcnQiOjF9.abc.def HTTP/1.1", "GET /exports/[redacted] HTTP/1.1"),
        (
            "GET /shopify/callback?code=abc&hmac=0f&shop=s.myshopify.com&state=n1 HTTP/1.1",
            "GET /shopify/callback?code=[redacted]&hmac=[redacted]"
            "&shop=s.myshopify.com&state=[redacted] HTTP/1.1",
        ),
        ("code=abc&shop=s.myshopify.com", "code=[redacted]&shop=s.myshopify.com"),
        ("GET /api/v1/contacts?encode=x&limit=5 HTTP/1.1", "GET /api/v1/contacts?encode=x&limit=5 HTTP/1.1"),
        (
            "GET /api/v1/contacts?q=ann%40example.com&sort=email HTTP/1.1",
            "GET /api/v1/contacts?q=[redacted]&sort=email HTTP/1.1",
        ),
        ("/api/v1/contacts?filter=%7B%22tag%22%3A%22x%22%7D", "/api/v1/contacts?filter=[redacted]"),
        (
            "https://admin.example/app?host=YQ&id_token=eyJ.x.y&session=s1",
            "https://admin.example/app?host=YQ&id_token=[redacted]&session=[redacted]",
        ),
        ("POST /webhooks/email/sendgrid/3 HTTP/1.1", "POST /webhooks/email/sendgrid/3 HTTP/1.1"),
    ],
)
def test_secrets_in_urls_are_replaced_and_the_rest_kept(line: str, kept: str) -> None:
    assert redact(line) == kept


def test_the_logger_writes_gunicorns_format_without_the_secrets() -> None:
    config = Config()
    logger = AccessLogger(config)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/webhooks/email/mailchimp/3/the-secret?x=1",
        "PATH_INFO": "/webhooks/email/mailchimp/3/the-secret",
        "QUERY_STRING": "x=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_REFERER": "https://shop.example/admin?id_token=token-value&q=ann@example.com",
        "HTTP_USER_AGENT": "Mailchimp",
    }
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    response = SimpleNamespace(status="200 OK", sent=2, headers=[])
    line = config.access_log_format % logger.atoms(response, request, environ, timedelta(milliseconds=3))
    assert '"POST /webhooks/email/mailchimp/3/[redacted]?x=1 HTTP/1.1" 200 2' in line
    for secret in ("the-secret", "token-value", "ann@example.com"):
        assert secret not in line
