"""Email normalization: the identity of a contact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.identity import normalize_email


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("ann@BÜCHER.de", "ann@xn--bcher-kva.de"),
        ("ann+news@example.com", "ann+news@example.com"),
    ],
)
def test_normalized_forms(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize("raw", ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com"])
def test_not_an_email(raw: str) -> None:
    with pytest.raises(ValueError, match="."):
        normalize_email(raw)


@given(st.emails())
def test_normalizing_twice_changes_nothing(email: str) -> None:
    try:
        once = normalize_email(email)
    except ValueError:
        return  # hypothesis' addresses include forms outside what mail servers accept
    assert normalize_email(once) == once
    assert normalize_email(email.upper()) == once
