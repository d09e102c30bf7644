"""Short-lived signed links to a sent preview, for the admin's frames.

A frame cannot send the embedded admin's session token, so the profile page links each preview
through a token signed with the app's secret: it names the account, the campaign and the preview
(and the Shopify shop whose admin may frame it), and expires after LINK_SECONDS. The preview is
looked up in the named account, so a link never opens another account's preview.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from integration.errors import NotFound

LINK_SECONDS = 10 * 60  # long enough to read a page's previews, short enough not to be shared


@dataclass(frozen=True)
class PreviewLink:
    account_id: int
    campaign_id: int
    preview_id: int
    shop: str | None


class PreviewLinkInvalid(NotFound):
    """The preview link is forged or expired."""


def sign(secret_key: str, link: PreviewLink) -> str:
    """The token of a link to one preview."""
    return _signer(secret_key).dumps(
        {"a": link.account_id, "c": link.campaign_id, "p": link.preview_id, "s": link.shop}
    )


def resolve(secret_key: str, token: str, max_age: int = LINK_SECONDS) -> PreviewLink:
    """The preview a token names; PreviewLinkInvalid when it is forged or older than `max_age` seconds."""
    try:
        data = _signer(secret_key).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise PreviewLinkInvalid("the preview link expired; reload the page") from exc
    except BadSignature as exc:
        raise PreviewLinkInvalid("not a preview link") from exc
    return PreviewLink(int(data["a"]), int(data["c"]), int(data["p"]), data.get("s"))


def _signer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="storepulse-preview")
