"""Who a record is about: one contact per account per normalized email."""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 320
# The addresses nearly every file and payload holds: a dot-atom local part of at most 64
# characters, lower-case letter-digit-hyphen labels of at most 63 (none with a double hyphen,
# the mark of an IDNA label) and a top-level domain of letters. email_validator accepts each of
# them unchanged, so they are normalized without it; everything else goes through it.
PLAIN_EMAIL = re.compile(
    r"(?=[^@]{1,64}@)[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:(?!-)(?!..--)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}",
    re.ASCII,
)
PLAIN_MAX_LENGTH = 254  # the longest address email_validator accepts


@lru_cache(maxsize=65_536)  # a batch names the same people many times
def normalize_email(raw: str) -> str:
    """Return the account-wide identity of an email: trimmed, lower-cased, domain in IDNA (ASCII) form.

    Raises ValueError with a reason when `raw` is no email address.
    """
    candidate = raw.strip()
    lowered = candidate.lower()
    if len(lowered) <= PLAIN_MAX_LENGTH and lowered.isascii() and PLAIN_EMAIL.fullmatch(lowered):
        domain = lowered.rpartition("@")[2]
        if not any(domain == name or domain.endswith("." + name) for name in SPECIAL_USE_DOMAIN_NAMES):
            return lowered
    return validated_email(candidate)


def validated_email(candidate: str) -> str:
    """Normalize `candidate` by email_validator's full rules (the reference the plain path agrees with)."""
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    domain = (checked.ascii_domain or checked.domain).lower()
    email = f"{checked.local_part.lower()}@{domain}"
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError("the email address is too long")
    return email
