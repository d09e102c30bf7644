"""The signed-in user's profile and the account's users (standalone admin only).

Changes go by fetch to the JSON API (`views/users.py`); inside the Shopify admin Shopify manages
its staff, so these pages do not exist there.
"""

from __future__ import annotations

from flask import abort, g, render_template
from flask_babel import gettext as _

from integration import users
from integration.store.models import Account, Role
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import LANGUAGE_NAMES
from integration.web.admin.viewer import admin_page
from integration.web.context import db


def _standalone() -> None:
    if g.viewer.embedded or g.viewer.user_id is None:
        abort(404)


def role_names() -> dict[str, str]:
    """The roles' names in the page's language."""
    return {Role.OWNER.value: _("Owner"), Role.MEMBER.value: _("Member")}


def state_names() -> dict[str, str]:
    """The invitations' states in the page's language."""
    return {
        "pending": _("Pending"),
        "accepted": _("Accepted"),
        "revoked": _("Revoked"),
        "expired": _("Expired"),
    }


@blueprint.get("/profile")
@admin_page
def profile() -> str:
    """Change one's password and language."""
    _standalone()
    return render_template(
        "admin/profile.html",
        title=_("Your profile"),
        languages=list(LANGUAGE_NAMES.items()),
        min_length=users.MIN_PASSWORD_LENGTH,
    )


@blueprint.get("/users", endpoint="users")
@admin_page
def users_page() -> str | tuple[str, int]:
    """The account's users and invitations; owners invite, change roles, disable and revoke."""
    _standalone()
    if not g.viewer.manages:
        return render_template("admin/forbidden.html", title=_("Users")), 403
    account = db.session.get(Account, g.viewer.account_id)
    g.time_zone = account.time_zone if account else "UTC"
    return render_template(
        "admin/users.html",
        title=_("Users"),
        people=users.list_users(db.session, g.viewer.account_id),
        invitations=users.list_invitations(db.session, g.viewer.account_id),
        roles=role_names(),
        states=state_names(),
    )
