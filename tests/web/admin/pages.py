"""Reading admin pages in tests: sign a user in, and find what the page shows by its `data-` hooks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from integration.store import session_scope
from integration.store.models import Role, User


def sign_in(client: FlaskClient, database_url: str, account_id: int, locale: str | None = None) -> int:
    """Create an owner of the account and sign the client in as them; return the user's id."""
    with session_scope(database_url) as session:
        user = User(
            account_id=account_id,
            email=f"owner{account_id}@example.com",
            password_hash=generate_password_hash("a long enough password"),
            role=Role.OWNER,
            locale=locale,
        )
        session.add(user)
        session.flush()
        user_id = user.id
    with client.session_transaction() as cookie:
        cookie["_user_id"] = f"{user_id}:1"
        cookie["_fresh"] = True
    return user_id


def set_locale(database_url: str, user_id: int, locale: str) -> None:
    """Switch a user's language."""
    with session_scope(database_url) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.locale = locale


@dataclass
class Hook:
    """An element carrying a `data-` attribute: where it is (the ids around it) and its text."""

    attrs: dict[str, str]
    within: tuple[str, ...]
    text: str = ""


class Hooks(HTMLParser):
    """Every element of a page that has a `data-` attribute, with the text inside it."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "source", "area", "col", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[Hook] = []
        self._stack: list[tuple[str, str | None]] = []
        self._recording: list[tuple[int, Hook]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if any(k.startswith("data-") for k in values):
            hook = Hook(values, tuple(i for _, i in self._stack if i))
            self.found.append(hook)
            if tag not in self.VOID:
                self._recording.append((len(self._stack), hook))
        if tag not in self.VOID:
            self._stack.append((tag, values.get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if any(k.startswith("data-") for k in values):
            self.found.append(Hook(values, tuple(i for _, i in self._stack if i)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self._stack:
            open_tag, _ = self._stack.pop()
            self._recording = [(depth, h) for depth, h in self._recording if depth < len(self._stack)]
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, hook in self._recording:
            hook.text += data

    def all(self, attribute: str, within: str | None = None) -> list[Hook]:
        """The hooks with `attribute`, inside the element of id `within` if given."""
        return [h for h in self.found if attribute in h.attrs and (within is None or within in h.within)]

    def one(self, attribute: str, within: str | None = None) -> Hook:
        """The single hook with `attribute` (inside `within`)."""
        hooks = self.all(attribute, within)
        assert len(hooks) == 1, (attribute, within, hooks)
        return hooks[0]

    def text(self, attribute: str, within: str | None = None) -> str:
        """The text of the single hook with `attribute`, whitespace collapsed."""
        # Only markup's whitespace: the locale's no-break spaces are part of what is shown.
        return re.sub(r"[ \t\r\n]+", " ", self.one(attribute, within).text).strip()
