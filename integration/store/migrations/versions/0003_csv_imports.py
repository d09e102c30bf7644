"""csv imports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=True),
        sa.Column("layout", sa.String(length=32), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued", "running", "finished", "failed", name="importstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("records_written", sa.Integer(), nullable=False),
        sa.Column("records_unchanged", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column(
            "errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_imports_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(
        op.f("ix_imports_store_id_created_at"), "imports", ["store_id", "created_at"], unique=False
    )
    op.create_table(
        "import_parts",
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_import_parts_import_id_imports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("import_id", "seq", name=op.f("pk_import_parts")),
    )


def downgrade() -> None:
    op.drop_table("import_parts")
    op.drop_index(op.f("ix_imports_store_id_created_at"), table_name="imports")
    op.drop_table("imports")
