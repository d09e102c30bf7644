"""The access log keeps requests, not the secrets their URLs carry."""

from __future__ import annotations

import pytest

from integration.access_log import redact


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
        ("GET /api/v1/contacts?q=ann&encode=x HTTP/1.1", "GET /api/v1/contacts?q=ann&encode=x HTTP/1.1"),
        ("POST /webhooks/email/sendgrid/3 HTTP/1.1", "POST /webhooks/email/sendgrid/3 HTTP/1.1"),
    ],
)
def test_secrets_in_urls_are_replaced_and_the_rest_kept(line: str, kept: str) -> None:
    assert redact(line) == kept
