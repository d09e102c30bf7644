"""The request's store session: stored before the answer, dropped on an error, committed early on demand."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account
from integration.web.context import db


def _names(settings: Settings) -> list[str]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Account.name).order_by(Account.name)))


def _route(app: Flask, view: Any) -> None:
    app.add_url_rule("/test-session", "test_session", view, methods=["POST"])
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production


def test_a_view_s_changes_are_stored_before_it_answers(app: Flask, settings: Settings) -> None:
    def view() -> tuple[str, int]:
        db.session.add(Account(name="kept"))
        return "", 201

    _route(app, view)
    assert app.test_client().post("/test-session").status_code == 201
    assert _names(settings) == ["kept"]


def test_a_view_that_fails_stores_nothing(app: Flask, settings: Settings) -> None:
    def view() -> tuple[str, int]:
        db.session.add(Account(name="dropped"))
        db.session.flush()
        abort(409)

    _route(app, view)
    assert app.test_client().post("/test-session").status_code == 409
    assert _names(settings) == []


def test_a_failed_commit_answers_an_error_not_success(app: Flask, settings: Settings) -> None:
    def view() -> tuple[str, int]:
        db.session.add(Account(name=None))  # NOT NULL: refused when the view's session commits
        return "", 200

    _route(app, view)
    assert app.test_client().post("/test-session").status_code == 500
    assert _names(settings) == []


def test_an_early_commit_keeps_what_came_before_it(app: Flask, settings: Settings) -> None:
    seen: list[list[str]] = []

    def view() -> tuple[str, int]:
        db.session.add(Account(name="first"))
        db.commit()
        seen.append(_names(settings))  # what a job queued now would read
        db.session.add(Account(name="second"))
        abort(409)

    _route(app, view)
    assert app.test_client().post("/test-session").status_code == 409
    assert seen == [["first"]]
    assert _names(settings) == ["first"]


def test_a_unit_of_its_own_commits_as_its_block_ends(app: Flask, settings: Settings) -> None:
    def view() -> tuple[str, int]:
        with db.scope() as session:
            session.add(Account(name="scoped"))
        abort(409)

    _route(app, view)
    assert app.test_client().post("/test-session").status_code == 409
    assert _names(settings) == ["scoped"]
