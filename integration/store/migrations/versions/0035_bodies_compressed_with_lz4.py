"""stored bodies and file blocks are compressed with lz4 where the server has it

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07

PostgreSQL compresses a value of over about 2 kB before storing it, with pglz unless told
otherwise. Every webhook delivery's body (a Shopify order is about 5 kB) and every 1 MB block of an
uploaded CSV file or of an export is such a value, and pglz is slow: inserting 4.8 kB bodies four
at a time cost the server 0.18 – 0.20 ms of CPU a row with pglz and 0.115 – 0.117 ms with lz4;
44 MB of CSV blocks 0.57 – 0.68 s against 0.10 – 0.12 s. lz4 keeps the file blocks about as small
(9.4 MB against 8.6 MB) and the bodies somewhat larger (2.9 kB a row against 2.1 kB).

Only on a PostgreSQL server built with lz4 (`default_toast_compression` may name it; Debian's and
the official packages are, some embedded builds are not); elsewhere nothing changes. The change is
the columns' setting only: rows stored before keep their pglz values, which read as before, and new
rows are compressed with lz4. A dump of such a database restores on a server without lz4 with
`pg_restore --no-toast-compression`.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

COLUMNS = (("inbox", "body"), ("import_parts", "data"), ("export_parts", "data"))


def _has_lz4() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    methods = bind.execute(
        text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return "lz4" in (methods or [])


def upgrade() -> None:
    if _has_lz4():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _has_lz4():  # a server without lz4 has no column set to it (nor, before 14, the setting)
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
