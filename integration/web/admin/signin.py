"""Signing in and out of the standalone admin, and joining an account by invitation.

These pages exist before a session, so they post plain Flask-WTF forms (with their CSRF token);
the embedded admin never shows them. A failed sign-in says the same whether or not the email
exists, and failures are limited per address and per account (`attempts.py`).
"""

from __future__ import annotations

import math

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from integration import users
from integration.web.admin.attempts import attempts, scopes
from integration.web.admin.frame import blueprint, csrf
from integration.web.admin.viewer import SignedIn
from integration.web.context import db

Page = str | Response | tuple[str, int] | tuple[str, int, dict[str, str]]


class SignInForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class ChoosePasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(min=users.MIN_PASSWORD_LENGTH, max=1024)]
    )
    password_again = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never send a signed-in user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("admin.contacts")


def _too_many(form: SignInForm, wait: float) -> tuple[str, int, dict[str, str]]:
    seconds = max(1, math.ceil(wait))
    minutes = math.ceil(seconds / 60)
    flash(
        ngettext(
            "Too many failed sign-ins. Try again in %(num)d minute.",
            "Too many failed sign-ins. Try again in %(num)d minutes.",
            minutes,
        ),
        "critical",
    )
    page = render_template("admin/signin.html", form=form, title=_("Sign in"))
    return page, 429, {"Retry-After": str(seconds)}


@blueprint.route("/signin", methods=["GET", "POST"])
def sign_in() -> Page:
    """Show the sign-in form; sign in with a known email and its password."""
    form = SignInForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        known = users.find_user(db.session, email)
        limits = attempts()
        names = scopes(request.remote_addr, known.account_id if known else None, email)
        wait = limits.wait(*names)
        if wait > 0:
            return _too_many(form, wait)
        user = users.authenticate(db.session, email, form.password.data)
        if user is not None:
            login_user(SignedIn(user))
            return redirect(_safe_next(request.args.get("next")))
        limits.failed(*names)
        flash(_("The email or password is not right."), "critical")
        return render_template("admin/signin.html", form=form, title=_("Sign in")), 401
    return render_template("admin/signin.html", form=form, title=_("Sign in"))


@blueprint.post("/signout")
def sign_out() -> Response:
    """End the session."""
    csrf.protect()
    logout_user()
    return redirect(url_for("admin.sign_in"))


def _refusal(reason: str) -> str:
    """Why an invitation link cannot be used, for the person holding it."""
    reasons: dict[str, str] = {
        "invitation_expired": _("This invitation has expired. Ask for a new one."),
        "invitation_revoked": _("This invitation has been withdrawn. Ask for a new one."),
        "invitation_accepted": _("This invitation has been used already. Sign in instead."),
        "email_taken": _("A user with this email exists already. Sign in instead."),
    }
    return str(reasons.get(reason, _("This invitation link is not valid.")))


@blueprint.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> Page:
    """Let an invited person choose a password; they are signed in once it is set."""
    title = _("Join storepulse")
    try:
        invitation = users.pending_invitation(db.session, token)
    except users.UserError as exc:
        return render_template("admin/invitation.html", title=title, refusal=_refusal(exc.reason)), 410
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            user = users.accept_invitation(db.session, token, form.password.data)
        except users.UserError as exc:
            if exc.field == "password":
                message = _("Choose a password of %(num)d to 1024 characters.", num=users.MIN_PASSWORD_LENGTH)
                form.password.errors.append(message)
            else:
                return render_template(
                    "admin/invitation.html", title=title, refusal=_refusal(exc.reason)
                ), 410
        else:
            login_user(SignedIn(user))
            return redirect(url_for("admin.contacts"))
    return render_template("admin/invitation.html", title=title, form=form, email=invitation.email)
