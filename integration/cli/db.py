"""`storepulse db`: the database schema."""

from __future__ import annotations

import click

from integration.cli.common import emit, json_option, read_settings
from integration.store.db import upgrade


@click.group("db")
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Create or migrate the schema to this version (safe to run again)."""
    before, after = upgrade(read_settings().database_url)
    emit(
        as_json,
        {"from": before, "to": after, "changed": before != after},
        f"database at {after}" + ("" if before != after else " (already up to date)"),
    )
