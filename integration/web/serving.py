"""gunicorn's hooks for the web process (`gunicorn --config python:integration.web.serving …`)."""

from __future__ import annotations

from typing import Any

from integration.operations.memory import keep_loaded_objects


def post_worker_init(worker: Any) -> None:
    """Called by gunicorn in each worker once the app is loaded, before the worker serves: the
    objects the app loaded stay out of the garbage collector's full collections, which otherwise
    stopped every request the worker held for a tenth to half a second (`integration.operations.memory`)."""
    keep_loaded_objects()
