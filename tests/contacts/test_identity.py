"""Email normalization: the identity of a contact."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.contacts.identity import normalize_email, validated_email


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


ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-"
LABEL = st.text("abz09-AZ", min_size=1, max_size=66)
ADDRESS_LIKE = st.builds(
    lambda local, labels, tld, pad: f"{pad}{local}@{'.'.join(labels)}.{tld}{pad}",
    st.text(ATEXT + ".", min_size=1, max_size=66),
    st.lists(LABEL, min_size=1, max_size=4),
    st.sampled_from(["com", "de", "c", "test", "local", "x1", "1", "museum", "xn--p1ai", "COM"]),
    st.sampled_from(["", " ", "\t"]),
)


@given(st.one_of(ADDRESS_LIKE, st.emails(), st.text(max_size=40)))
def test_the_plain_path_agrees_with_email_validator(raw: str) -> None:
    def outcome(normalize: Callable[[str], str], value: str) -> str:
        try:
            return normalize(value)
        except ValueError:
            return "refused"

    assert outcome(normalize_email.__wrapped__, raw) == outcome(validated_email, raw.strip())
