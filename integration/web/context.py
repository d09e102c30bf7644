"""What a request of the web wing reaches without the app factory: the settings and the store session.

`db.session` is the request's store session, opened on first use (on a read replica for the reads
`replica` routes there). It commits when the view returns,
before the response is made (a failed commit answers an error, never a 200 for data not stored), and
rolls back when the view raises. A view that must store before it hands work on calls `db.commit()`
first; code outside a view (request hooks, streamed bodies) takes a unit of its own with `db.scope()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from integration.settings import Settings
from integration.store import session_scope
from integration.web import replica

SETTINGS = "storepulse"


def settings_of(app: Flask) -> Settings:
    """Return the settings an app was built with."""
    settings: Settings = app.extensions[SETTINGS]
    return settings


def current_settings() -> Settings:
    """Return the settings of the app serving this request."""
    return settings_of(current_app)


class RequestSession:
    """The store session of one request: committed as its view returns, rolled back if it raises."""

    key = "storepulse.db"

    def init_app(self, app: Flask) -> None:
        """Run every view of `app` in a request session, and drop one a request hook left open."""
        app.extensions[self.key] = self
        dispatch = app.dispatch_request

        @wraps(dispatch)
        def dispatch_in_session() -> Any:
            settings = current_settings()
            if replica.routed(settings):
                self.commit()  # what the request hooks read or stored, on the primary, before the view
            try:
                try:
                    answer = dispatch()
                    self.commit()
                except Exception as exc:
                    if not replica.retry_on_primary(settings, exc):
                        raise
                    self.rollback()  # a read the replica could not serve: again, on the primary
                    answer = dispatch()
                    self.commit()
            except BaseException:
                self.rollback()
                replica.changed(settings)  # what the view committed before it failed
                raise
            replica.changed(settings)  # a read replica: this account's next reads wait until it has this
            return answer

        app.dispatch_request = dispatch_in_session  # type: ignore[method-assign]
        app.teardown_request(self._discard)

    @property
    def session(self) -> Session:
        """The request's session, opened on first use."""
        session: Session | None = g.get(self.key)
        if session is None:
            session = replica.open_session(current_settings())  # the primary unless a replica may answer
            setattr(g, self.key, session)
        return session

    def commit(self) -> None:
        """Commit what the request stored so far and release the session; a later use opens a new one."""
        session: Session | None = g.pop(self.key, None)
        if session is not None:
            with session:  # closing rolls back what a failed commit left
                session.commit()

    def rollback(self) -> None:
        """Forget what the request stored since the last commit and release the session."""
        session: Session | None = g.pop(self.key, None)
        if session is not None:
            session.close()  # closing rolls the open transaction back

    @contextmanager
    def scope(self) -> Iterator[Session]:
        """A unit of work of its own, committed as the block ends: for request hooks and streams."""
        with session_scope(current_settings().database_url) as session:
            yield session

    def _discard(self, _exc: BaseException | None) -> None:
        self.rollback()


db = RequestSession()
