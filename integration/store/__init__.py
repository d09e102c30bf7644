"""The store: SQLAlchemy models, engine and sessions, and Alembic migrations."""

from integration.store.db import get_engine, session_factory, session_scope, upgrade

__all__ = ["get_engine", "session_factory", "session_scope", "upgrade"]
