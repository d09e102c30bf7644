"""trigram indexes for searching contacts by part of an email or name (PostgreSQL)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04

The contact list finds contacts by any part of an email, an earlier email, a first or last name
(`integration.contacts.lists.matching`): `lower(column) LIKE '%word%'`, which no B-tree answers, so
at a million contacts every search read the whole table. PostgreSQL's pg_trgm extension indexes
such patterns with GIN. The extension is trusted (PostgreSQL 13 and later): the database's owner
may create it. Where it cannot be created (an older server, or a role without the right), the
migration says so and goes on without these indexes — search still works, by reading the table.

These indexes are the database's alone and not in the models (SQLite has no such index); their
names end in `_trgm`, which the model comparison and autogenerate skip.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# (index, table, column): each indexes lower(column) for LIKE '%…%'.
INDEXES = (
    ("ix_contacts_email_trgm", "contacts", "email"),
    ("ix_contacts_first_name_trgm", "contacts", "first_name"),
    ("ix_contacts_last_name_trgm", "contacts", "last_name"),
    ("ix_contact_emails_email_trgm", "contact_emails", "email"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as error:
        log.warning("pg_trgm is not available (%s): contact search will read the whole table", error.orig)
        return
    for name, table, column in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (lower({column}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _table, _column in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
