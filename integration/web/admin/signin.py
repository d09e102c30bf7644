"""Signing in and out of the standalone admin (email and password; Flask-Login's cookie session)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from integration.store.models import User
from integration.store.types import utcnow
from integration.web.admin.frame import blueprint, csrf
from integration.web.admin.viewer import SignedIn
from integration.web.context import db

# Compared against when no user has the address, so a miss costs as long as a wrong password.
_UNKNOWN_HASH = "scrypt:32768:8:1$notauser$" + "0" * 128


class SignInForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never send a signed-in user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("admin.contacts")


@blueprint.route("/signin", methods=["GET", "POST"])
def sign_in() -> str | Response | tuple[str, int]:
    """Show the sign-in form; sign in with a known email and its password."""
    form = SignInForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        valid = check_password_hash(user.password_hash if user else _UNKNOWN_HASH, form.password.data)
        if user is not None and valid and user.disabled_at is None:
            user.last_sign_in_at = utcnow()
            login_user(SignedIn(user))
            return redirect(_safe_next(request.args.get("next")))
        flash(_("The email or password is not right."), "critical")
        return render_template("admin/signin.html", form=form, title=_("Sign in")), 401
    return render_template("admin/signin.html", form=form, title=_("Sign in"))


@blueprint.post("/signout")
def sign_out() -> Response:
    """End the session."""
    csrf.protect()
    logout_user()
    return redirect(url_for("admin.sign_in"))
