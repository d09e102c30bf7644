"""A process forked from one with pooled database connections opens its own and leaves the parent's
as they were (the CSV importer's storers are such processes)."""

from __future__ import annotations

import functools
import gc
import multiprocessing
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from integration.store import db, session_scope

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def own_engines(db_url: str) -> Iterator[str]:
    """This process's engines, new for the test (one pooled connection, the one it opens) and
    forgotten after it."""
    db.dispose_engines()
    yield db_url
    db.dispose_engines()


def _backend(url: str) -> int:
    with session_scope(url) as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)


def _backend_after_collecting(url: str) -> int:
    """As a storer begins: whatever it let go of is collected before it opens its own."""
    gc.collect()
    return _backend(url)


def _in_forked_child(url: str, forget: bool) -> int:
    """The backend a forked child's session talks to."""
    fork = multiprocessing.get_context("fork")
    letting_go = functools.partial(db.dispose_engines, close=False)
    with fork.Pool(1, initializer=letting_go if forget else None) as pool:
        return pool.apply(_backend_after_collecting, (url,))


def test_a_forked_child_opens_its_own_connection_and_the_parents_lives_on(own_engines: str) -> None:
    url = own_engines
    parent = _backend(url)  # the connection goes back to this process's pool, open
    child = _in_forked_child(url, forget=True)
    assert child != parent
    # The parent's pooled connection is still the same open session: the child did not end it.
    assert _backend(url) == parent


def test_without_letting_go_a_child_would_talk_on_the_parents_connection(own_engines: str) -> None:
    # What letting go of the inherited engines prevents: the copied pool hands the child the parent's session.
    url = own_engines
    parent = _backend(url)
    assert _in_forked_child(url, forget=False) == parent
