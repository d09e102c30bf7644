"""Who a record is about: one contact per account per normalized email."""

from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 320


@lru_cache(maxsize=65_536)  # a batch names the same people many times
def normalize_email(raw: str) -> str:
    """Return the account-wide identity of an email: trimmed, lower-cased, domain in IDNA (ASCII) form.

    Raises ValueError with a reason when `raw` is no email address.
    """
    candidate = raw.strip()
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    domain = (checked.ascii_domain or checked.domain).lower()
    email = f"{checked.local_part.lower()}@{domain}"
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError("the email address is too long")
    return email
