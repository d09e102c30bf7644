"""Signature and secret checks, without Flask."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.sendgrid import DER_B64, PEM, sign
from webhooks.signatures import secret_matches, sendgrid_signature_valid, timestamp_within


@pytest.mark.parametrize("key", [PEM, DER_B64])
def test_a_sendgrid_signature_verifies_with_the_key_in_either_form(key: str) -> None:
    body = b'[{"event":"open"}]'
    assert sendgrid_signature_valid(key, sign("1781000000", body), "1781000000", body)


@pytest.mark.parametrize(
    ("signature", "timestamp", "body"),
    [
        (None, "1781000000", b"[]"),
        ("not base64!", "1781000000", b"[]"),
        ("c2lnbmF0dXJl", "1781000000", b"[]"),
        ("SIGNED", None, b"[]"),
        ("SIGNED", "1781000001", b"[]"),  # another timestamp than the one signed
        ("SIGNED", "1781000000", b"[ ]"),  # one byte of the body changed
    ],
)
def test_anything_but_the_signed_bytes_fails(
    signature: str | None, timestamp: str | None, body: bytes
) -> None:
    if signature == "SIGNED":
        signature = sign("1781000000", b"[]")
    assert not sendgrid_signature_valid(PEM, signature, timestamp, body)


def test_a_malformed_key_fails_closed() -> None:
    assert not sendgrid_signature_valid("not a key", sign("1", b"x"), "1", b"x")


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=199))
def test_flipping_any_byte_of_the_body_breaks_the_signature(body: bytes, position: int) -> None:
    signature = sign("1781000000", body)
    assert sendgrid_signature_valid(DER_B64, signature, "1781000000", body)
    if body:
        i = position % len(body)
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        assert not sendgrid_signature_valid(DER_B64, signature, "1781000000", tampered)


@pytest.mark.parametrize(
    ("timestamp", "within"),
    [
        ("1781000000", True),
        ("1780999900", True),  # exactly the tolerance before
        ("1781000100", True),  # and after
        ("1780999899", False),
        ("1781000101", False),
        (None, False),
        ("", False),
        ("-1781000000", False),
        ("1781000000.5", False),
        (" 1781000000", False),
        ("\u0661781000000", False),  # a digit of another script
        ("9" * 13, False),
    ],
)
def test_a_timestamp_is_within_the_tolerance_either_way(timestamp: str | None, within: bool) -> None:
    assert timestamp_within(timestamp, 1781000000.0, 100) is within


@given(st.integers(min_value=0, max_value=10**12 - 1), st.integers(min_value=0, max_value=10**12 - 1))
def test_a_timestamp_is_within_exactly_when_its_distance_is_at_most_the_tolerance(
    timestamp: int, now: int
) -> None:
    assert timestamp_within(str(timestamp), float(now), 72 * 3600) is (abs(now - timestamp) <= 72 * 3600)


@given(st.one_of(st.text(max_size=20), st.integers(1780999000, 1781001000).map(str)))
def test_only_a_number_of_ascii_digits_is_a_timestamp(timestamp: str) -> None:
    if timestamp_within(timestamp, 1781000000.0, 1000):
        assert timestamp.isascii()
        assert timestamp.isdigit()


def test_a_url_secret_matches_only_itself() -> None:
    digest = hashlib.sha256(b"s3cret-value").hexdigest()
    assert secret_matches("s3cret-value", digest)
    assert not secret_matches("s3cret-valuf", digest)
    assert not secret_matches("s3cret-value", None)


SHOPIFY_SECRET = "hush"


def test_shopify_query_hmac_matches_shopifys_published_vector() -> None:
    from webhooks.signatures import shopify_sign_query

    params = {
        "shop": "some-shop.myshopify.com",
        "code": "a94a110d86d2452eb3e2af4cfb8a3828",
        "timestamp": "1337178173",
    }
    assert shopify_sign_query(SHOPIFY_SECRET, params) == (
        "2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2"
    )


@given(body=st.binary(max_size=2048), flip=st.integers(min_value=0, max_value=2047))
def test_a_shopify_webhook_signature_covers_every_byte_of_the_body(body: bytes, flip: int) -> None:
    from webhooks.signatures import shopify_sign_body, shopify_webhook_valid

    signature = shopify_sign_body(SHOPIFY_SECRET, body)
    assert shopify_webhook_valid([SHOPIFY_SECRET], signature, body)
    assert shopify_webhook_valid(["other", SHOPIFY_SECRET], signature, body)
    assert not shopify_webhook_valid(["other"], signature, body)
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert not shopify_webhook_valid([SHOPIFY_SECRET], signature, changed)


@given(header=st.one_of(st.none(), st.text(max_size=80)))
def test_a_shopify_signature_header_that_is_not_the_digest_never_passes(header: str | None) -> None:
    from webhooks.signatures import shopify_webhook_valid

    assert not shopify_webhook_valid([SHOPIFY_SECRET], header, b'{"id": 1}')


@given(
    params=st.dictionaries(
        st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=12),
        st.text(max_size=20),
        max_size=5,
    ).filter(lambda p: "hmac" not in p and "timestamp" not in p)
)
def test_a_shopify_query_signature_fails_when_any_parameter_changes(params: dict[str, str]) -> None:
    import time

    from webhooks.signatures import shopify_query_valid, shopify_sign_query

    signed = {**params, "timestamp": str(int(time.time()))}
    signed["hmac"] = shopify_sign_query(SHOPIFY_SECRET, signed)
    assert shopify_query_valid([SHOPIFY_SECRET], signed)
    assert not shopify_query_valid(["other"], signed)
    assert not shopify_query_valid(
        [SHOPIFY_SECRET], {**signed, "timestamp": str(int(signed["timestamp"]) + 1)}
    )
    for key in params:
        assert not shopify_query_valid([SHOPIFY_SECRET], {**signed, key: params[key] + "x"})
