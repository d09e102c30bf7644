"""Verifying Shopify session tokens: what passes, what is refused and why, and garbage never crashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.web.session_tokens import (
    LEEWAY_SECONDS,
    REQUIRED_CLAIMS,
    InvalidSessionToken,
    verify_session_token,
)
from tests.support.session_tokens import DROP, OLD_SECRET, SECRET, claims, mint
from tests.support.shopify import API_KEY, SHOP

SECRETS = (SECRET, OLD_SECRET)


def verify(token: str) -> str:
    """The shop of a token this app accepts (raises InvalidSessionToken otherwise)."""
    return verify_session_token(token, client_id=API_KEY, secrets=SECRETS).shop


def refusal(token: str) -> str:
    with pytest.raises(InvalidSessionToken) as refused:
        verify(token)
    return refused.value.reason


def test_a_token_shopify_issues_names_its_shop_user_and_session() -> None:
    verified = verify_session_token(mint(), client_id=API_KEY, secrets=SECRETS)
    assert (verified.shop, verified.user, verified.session) == (
        SHOP,
        "42",
        "f8a5b2c7e1d94c3aa7c5d2e8b9f0a1c3",
    )


def test_the_shop_is_given_in_lower_case() -> None:
    assert verify(mint("Snow-Devil.myshopify.com")) == "snow-devil.myshopify.com"


def test_during_a_rotation_the_previous_secret_still_passes() -> None:
    assert verify(mint(secret=OLD_SECRET)) == SHOP


def test_a_token_of_another_secret_is_refused() -> None:
    assert refusal(mint(secret="shpss_not_the_secret_of_this_app_at_all")) == "signature"


def test_a_rotated_out_secret_no_longer_passes() -> None:
    with pytest.raises(InvalidSessionToken):
        verify_session_token(mint(secret=OLD_SECRET), client_id=API_KEY, secrets=(SECRET,))


@pytest.mark.parametrize(
    ("shift", "passes"),
    [
        (0, True),
        (LEEWAY_SECONDS - 3, True),  # App Bridge's clock a little ahead of ours
        (LEEWAY_SECONDS + 5, False),
        (120, False),
    ],
)
def test_not_before_is_checked_with_the_leeway(shift: int, passes: bool) -> None:
    now = int(time.time())
    token = mint(nbf=now + shift, exp=now + shift + 60)
    if passes:
        assert verify(token) == SHOP
    else:
        assert refusal(token) == "not_yet_valid"


@pytest.mark.parametrize(("age", "passes"), [(LEEWAY_SECONDS - 3, True), (LEEWAY_SECONDS + 5, False)])
def test_expiry_is_checked_with_the_leeway(age: int, passes: bool) -> None:
    now = int(time.time())
    token = mint(nbf=now - 60 - age, exp=now - age)
    if passes:
        assert verify(token) == SHOP
    else:
        assert refusal(token) == "expired"


def test_a_token_for_another_app_is_refused() -> None:
    assert refusal(mint(aud="another-apps-client-id")) == "audience"


@pytest.mark.parametrize(
    ("iss", "dest"),
    [
        ("https://other-shop.myshopify.com/admin", f"https://{SHOP}"),
        (f"https://{SHOP}/admin", "https://other-shop.myshopify.com"),
        (f"http://{SHOP}/admin", f"https://{SHOP}"),
        (f"https://{SHOP}/admin", f"http://{SHOP}"),
        (f"https://{SHOP}.evil.com/admin", f"https://{SHOP}"),
    ],
)
def test_issuer_and_destination_must_name_the_same_shop_over_https(iss: str, dest: str) -> None:
    assert refusal(mint(iss=iss, dest=dest)) == "issuer"


@pytest.mark.parametrize(
    "shop",
    ["evil.com", "snowdevil.myshopify.com.evil.com", "-snowdevil.myshopify.com", "snowdevil.shopify.com"],
)
def test_a_destination_outside_myshopify_is_refused(shop: str) -> None:
    assert refusal(mint(iss=f"https://{shop}/admin", dest=f"https://{shop}")) == "shop"


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_each_required_claim_must_be_present(claim: str) -> None:
    assert refusal(mint(**{claim: DROP})) == f"missing_{claim}"


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    assert refusal(token) == "malformed"


def test_another_algorithm_with_the_right_secret_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        token = jwt.encode(claims(), SECRET, algorithm="HS512")
    assert refusal(token) == "malformed"


def test_a_token_whose_header_claims_hs256_but_carries_no_signature_is_refused() -> None:
    header, payload, _ = mint().split(".")
    assert refusal(f"{header}.{payload}.") in ("signature", "malformed")


def test_without_the_app_configured_nothing_passes() -> None:
    with pytest.raises(InvalidSessionToken) as refused:
        verify_session_token(mint(), client_id="", secrets=SECRETS)
    assert refused.value.reason == "the Shopify app is not configured"
    with pytest.raises(InvalidSessionToken):
        verify_session_token(mint(), client_id=API_KEY, secrets=())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(payload: dict[str, object]) -> str:
    """An HS256 token signed with the app's secret by hand (PyJWT will not encode some odd claims)."""
    head = (
        _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(payload).encode())
    )
    signature = hmac.new(SECRET.encode(), head.encode(), hashlib.sha256).digest()
    return f"{head}.{_b64(signature)}"


@given(st.text())
def test_any_text_is_refused_with_invalid_session_token_only(text: str) -> None:
    with pytest.raises(InvalidSessionToken):
        verify(text)


@given(
    st.dictionaries(
        st.sampled_from(["iss", "dest", "aud", "sub", "exp", "nbf", "iat", "sid", "alg", "typ"]),
        st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(), st.lists(st.text())),
    ),
    st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(), st.text(max_size=10))),
)
def test_well_formed_garbage_is_refused_with_invalid_session_token_only(
    payload: dict[str, object], header: dict[str, object]
) -> None:
    parts = [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(b"sig")]
    with pytest.raises(InvalidSessionToken):
        verify(".".join(parts))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


@given(st.dictionaries(st.sampled_from(["iss", "dest", "sub", "sid", "aud"]), JSON_VALUES, min_size=1))
def test_signed_tokens_with_odd_claims_pass_or_are_refused_never_crash(changes: dict[str, object]) -> None:
    """Only a token whose claims Shopify could have issued passes; anything else is refused cleanly."""
    try:
        verified = verify_session_token(_signed(claims(**changes)), client_id=API_KEY, secrets=SECRETS)
    except InvalidSessionToken:
        return
    assert verified.shop.endswith(".myshopify.com")


def test_a_token_signed_by_hand_passes_like_one_from_pyjwt() -> None:
    """The hand signing above makes tokens the verifier takes, so its refusals are the claims' doing."""
    assert verify(_signed(claims())) == SHOP
