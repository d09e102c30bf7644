"""The account's users and invitations (owners only), and the signed-in user's own profile."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import g
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import login_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integration import users
from integration.store.models import Invitation, Role, User
from integration.web.admin.viewer import SignedIn
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, require_api_key, require_owner

blueprint = Blueprint("users", __name__, url_prefix="/api/v1", description="Users, invitations and profile")
require_api_key(blueprint)

ROLES = [role.value for role in Role]


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = fields.String(required=True, validate=validate.Length(max=320))
    role = fields.String(load_default=Role.MEMBER.value, validate=validate.OneOf(ROLES))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))
    locale = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    last_sign_in_at = fields.DateTime(dump_only=True, allow_none=True)
    disabled = fields.Boolean(dump_only=True)


class UserUpdate(Schema):
    role = fields.String(validate=validate.OneOf(ROLES))
    disabled = fields.Boolean()


class InvitationSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = fields.String(required=True, validate=validate.Length(max=320))
    role = fields.String(load_default=Role.MEMBER.value, validate=validate.OneOf(ROLES))
    state = fields.String(dump_only=True, metadata={"description": "pending, accepted, revoked or expired"})
    created_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)


class NewInvitationSchema(InvitationSchema):
    token = fields.String(dump_only=True, metadata={"description": "shown only in this answer"})
    url = fields.String(dump_only=True, metadata={"description": "the single-use link to send"})


class ProfileUpdate(Schema):
    locale = fields.String(allow_none=True, required=True, validate=validate.OneOf(users.LOCALES))


class PasswordChange(Schema):
    current_password = fields.String(required=True, validate=validate.Length(max=1024))
    new_password = fields.String(required=True, validate=validate.Length(max=1024))
    new_password_again = fields.String(required=True, validate=validate.Length(max=1024))


def _explained(reason: str) -> str | None:
    """A refusal in the language of the request (the admin's pages show it beside the field)."""
    texts = {
        "invalid_email": _("Enter a valid email address."),
        "email_taken": _("A user with this email exists already."),
        "weak_password": _(
            "Choose a password of at least %(num)d characters.", num=users.MIN_PASSWORD_LENGTH
        ),
        "long_password": _("Choose a password of at most %(num)d characters.", num=users.MAX_PASSWORD_LENGTH),
        "wrong_password": _("The current password is not right."),
        "unknown_locale": _("Choose English, Polish or Spanish."),
        "last_owner": _("An account keeps at least one active owner: make someone else an owner first."),
        "invitation_accepted": _("This invitation has been used already."),
    }
    return texts.get(reason)


def _refused(exc: users.UserError) -> NoReturn:
    message = _explained(exc.reason) or str(exc)
    fail(422, message, exc.reason, {"json": {exc.field: [message]}} if exc.field else None)


def _user(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role.value,
        "locale": user.locale,
        "created_at": user.created_at,
        "last_sign_in_at": user.last_sign_in_at,
        "disabled": user.disabled_at is not None,
    }


def _invitation(invitation: Invitation, state: str) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role.value,
        "state": state,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
    }


def invitation_url(token: str) -> str:
    """The single-use link that accepts an invitation."""
    return f"{current_settings().app_url.rstrip('/')}/admin/invitations/{token}"


def _found(user_id: int) -> User:
    try:
        return users.get_user(db.session, g.account_id, user_id)
    except LookupError:
        fail(404, f"no user {user_id}", "not_found")


def _signed_in_user() -> User:
    user_id = g.get("user_id")
    if user_id is None:
        fail(403, "only a signed-in user has a profile", "forbidden")
    return _found(user_id)


@blueprint.route("/users")
class Users(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, UserSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The account's users with their role and last sign-in (owners only)."""
        require_owner()
        return [_user(u) for u in users.list_users(db.session, g.account_id)]

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(UserSchema)
    @blueprint.response(201, UserSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a user with a password (owners only); invitations let people choose their own."""
        require_owner()
        try:
            made = users.create_user(
                db.session, g.account_id, data["email"], data["password"], Role(data["role"])
            )
        except users.UserError as exc:
            _refused(exc)
        return _user(made)


@blueprint.route("/users/<int:user_id>")
class UserDetail(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(UserUpdate)
    @blueprint.response(200, UserSchema)
    def patch(self, data: dict[str, Any], user_id: int) -> dict[str, Any]:
        """Change a user's role, disable or enable them (owners only); the last active owner stays."""
        require_owner()
        user = _found(user_id)
        try:
            if "role" in data:
                users.change_role(db.session, user, Role(data["role"]))
            if data.get("disabled") is True:
                users.disable_user(db.session, user)
            elif data.get("disabled") is False:
                users.enable_user(db.session, user)
        except users.UserError as exc:
            _refused(exc)
        return _user(user)


@blueprint.route("/invitations")
class Invitations(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, InvitationSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The account's invitations, newest first (owners only)."""
        require_owner()
        return [_invitation(i.invitation, i.state) for i in users.list_invitations(db.session, g.account_id)]

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(InvitationSchema)
    @blueprint.response(201, NewInvitationSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Invite a person (owners only); the answer holds the single-use link, shown only this once."""
        require_owner()
        try:
            made, token = users.invite(
                db.session, g.account_id, data["email"], Role(data["role"]), invited_by=g.get("user_id")
            )
        except users.UserError as exc:
            _refused(exc)
        return {**_invitation(made, "pending"), "token": token, "url": invitation_url(token)}


@blueprint.route("/invitations/<int:invitation_id>")
class InvitationDetail(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(204)
    def delete(self, invitation_id: int) -> None:
        """Revoke a pending invitation: its link stops working (owners only)."""
        require_owner()
        try:
            users.revoke_invitation(db.session, g.account_id, invitation_id)
        except LookupError as exc:
            fail(404, str(exc), "not_found")
        except users.UserError as exc:
            _refused(exc)


@blueprint.route("/profile")
class Profile(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, UserSchema)
    def get(self) -> dict[str, Any]:
        """The signed-in user (the admin's cookie session only)."""
        return _user(_signed_in_user())

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(ProfileUpdate)
    @blueprint.response(200, UserSchema)
    def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Choose the admin's language (en, pl, es; null: the browser's)."""
        user = _signed_in_user()
        users.set_locale(db.session, user, data["locale"])
        return _user(user)


@blueprint.route("/profile/password")
class Password(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(PasswordChange)
    @blueprint.response(204)
    def post(self, data: dict[str, Any]) -> None:
        """Change the signed-in user's password; their other sessions end, this one stays."""
        user = _signed_in_user()
        if data["new_password"] != data["new_password_again"]:
            message = _("The new passwords differ.")
            fail(422, message, "passwords_differ", {"json": {"new_password_again": [message]}})
        try:
            users.change_password(db.session, user, data["current_password"], data["new_password"])
        except users.UserError as exc:
            _refused(exc)
        login_user(SignedIn(user))  # this session carries the new session version
