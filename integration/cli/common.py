"""What every command shares: settings and logging, the --json option, output, and one-line refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from sqlalchemy.orm import Session

from integration.operations.logs import configure_logging
from integration.settings import Settings, get_settings
from integration.store import session_scope

console = Console(stderr=True)

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def read_settings(quiet: bool = True) -> Settings:
    """Read settings and set up logging (`quiet`: warnings only, so answers and progress stay readable)."""
    settings = get_settings()
    configure_logging(settings, quiet)
    return settings


def emit(as_json: bool, data: Any, text: str) -> None:
    """Print `data` as JSON for scripts, or `text` for people."""
    click.echo(json.dumps(data, default=str, indent=2) if as_json else text)


@contextmanager
def opened(settings: Settings) -> Iterator[Session]:
    """Open a database session; a LookupError or ValueError of the domain ends the command in one line."""
    try:
        with session_scope(settings.database_url) as session:
            yield session
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
