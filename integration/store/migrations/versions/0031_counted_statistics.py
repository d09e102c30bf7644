"""the contact statistics count only what changed: notes written by triggers, the counted state

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05

Triggers on `contacts` (a contact added, deleted, or its group, subscription or deletion changed),
on `contact_totals` (a buyer's revenue in a currency changed) and on the engagement and
subscription transitions (what the 30-day change's movements read) note the contact in
`stats_dirty` in the same transaction. The statistics refresh takes the notes and recounts those
contacts only (`integration.analytics.counted`). The counted rows carry no foreign keys (checking
one per row would double a recount's time); deleting an account deletes them by a trigger.
PostgreSQL runs one statement-level trigger per statement (its transition tables hold the changed
rows); SQLite one per row.

A later migration that rebuilds one of these tables on SQLite (a batch "recreate") drops
their triggers with the old table and must create them again (`create_triggers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import integration.store.types

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

POSTGRESQL_FUNCTIONS = """
CREATE FUNCTION stats_note_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_dirty (account_id, contact_id) SELECT account_id, id FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_dirty (account_id, contact_id) SELECT account_id, id FROM old_rows;
    ELSE
        INSERT INTO stats_dirty (account_id, contact_id)
        SELECT a.account_id, n.id
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        CROSS JOIN LATERAL (SELECT n.account_id UNION SELECT o.account_id) AS a
        WHERE (o.engagement_status, o.subscription_status, o.deleted_at, o.account_id)
              IS DISTINCT FROM
              (n.engagement_status, n.subscription_status, n.deleted_at, n.account_id);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION stats_note_transitions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_dirty (account_id, contact_id) SELECT account_id, contact_id FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_dirty (account_id, contact_id) SELECT account_id, contact_id FROM old_rows;
    ELSE
        INSERT INTO stats_dirty (account_id, contact_id)
        SELECT account_id, contact_id FROM new_rows UNION SELECT account_id, contact_id FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION stats_forget_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stats_counted WHERE account_id IN (SELECT id FROM old_rows);
    DELETE FROM stats_counted_money WHERE account_id IN (SELECT id FROM old_rows);
    DELETE FROM stats_counted_moves WHERE account_id IN (SELECT id FROM old_rows);
    DELETE FROM stats_dirty WHERE account_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;

CREATE FUNCTION stats_note_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_dirty (account_id, contact_id)
        SELECT account_id, contact_id FROM new_rows WHERE revenue_orders > 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_dirty (account_id, contact_id)
        SELECT account_id, contact_id FROM old_rows WHERE revenue_orders > 0;
    ELSE
        INSERT INTO stats_dirty (account_id, contact_id)
        SELECT account_id, contact_id FROM new_rows UNION SELECT account_id, contact_id FROM old_rows;
    END IF;
    RETURN NULL;
END $$;
"""

POSTGRESQL_TRIGGERS = """
CREATE TRIGGER stats_note_contacts_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_contacts();
CREATE TRIGGER stats_note_contacts_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_note_contacts();
CREATE TRIGGER stats_note_contacts_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_contacts();
CREATE TRIGGER stats_note_totals_insert AFTER INSERT ON contact_totals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_totals();
CREATE TRIGGER stats_note_totals_update AFTER UPDATE ON contact_totals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_note_totals();
CREATE TRIGGER stats_note_totals_delete AFTER DELETE ON contact_totals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_totals();
CREATE TRIGGER stats_note_engagement_insert AFTER INSERT ON engagement_transitions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_transitions();
CREATE TRIGGER stats_note_engagement_update AFTER UPDATE ON engagement_transitions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_note_transitions();
CREATE TRIGGER stats_note_engagement_delete AFTER DELETE ON engagement_transitions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_transitions();
CREATE TRIGGER stats_note_subscription_insert AFTER INSERT ON subscription_transitions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_transitions();
CREATE TRIGGER stats_note_subscription_update AFTER UPDATE ON subscription_transitions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_note_transitions();
CREATE TRIGGER stats_note_subscription_delete AFTER DELETE ON subscription_transitions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_note_transitions();
CREATE TRIGGER stats_forget_accounts AFTER DELETE ON accounts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_forget_accounts();
"""

SQLITE_TRIGGERS = [
    """CREATE TRIGGER stats_note_contacts_insert AFTER INSERT ON contacts BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.id); END""",
    """CREATE TRIGGER stats_note_contacts_update AFTER UPDATE ON contacts
        WHEN NEW.engagement_status IS NOT OLD.engagement_status
          OR NEW.subscription_status IS NOT OLD.subscription_status
          OR NEW.deleted_at IS NOT OLD.deleted_at
          OR NEW.account_id IS NOT OLD.account_id
        BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.id);
        INSERT INTO stats_dirty (account_id, contact_id)
            SELECT OLD.account_id, OLD.id WHERE OLD.account_id IS NOT NEW.account_id; END""",
    """CREATE TRIGGER stats_note_contacts_delete AFTER DELETE ON contacts BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (OLD.account_id, OLD.id); END""",
    """CREATE TRIGGER stats_note_totals_insert AFTER INSERT ON contact_totals
        WHEN NEW.revenue_orders > 0 BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.contact_id); END""",
    """CREATE TRIGGER stats_note_totals_update AFTER UPDATE ON contact_totals BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.contact_id);
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (OLD.account_id, OLD.contact_id); END""",
    """CREATE TRIGGER stats_note_totals_delete AFTER DELETE ON contact_totals
        WHEN OLD.revenue_orders > 0 BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (OLD.account_id, OLD.contact_id); END""",
    """CREATE TRIGGER stats_note_engagement_insert AFTER INSERT ON engagement_transitions BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.contact_id); END""",
    """CREATE TRIGGER stats_note_engagement_update AFTER UPDATE ON engagement_transitions BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.contact_id);
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (OLD.account_id, OLD.contact_id); END""",
    """CREATE TRIGGER stats_note_engagement_delete AFTER DELETE ON engagement_transitions BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (OLD.account_id, OLD.contact_id); END""",
    """CREATE TRIGGER stats_note_subscription_insert AFTER INSERT ON subscription_transitions BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.contact_id); END""",
    """CREATE TRIGGER stats_note_subscription_update AFTER UPDATE ON subscription_transitions BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (NEW.account_id, NEW.contact_id);
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (OLD.account_id, OLD.contact_id); END""",
    """CREATE TRIGGER stats_note_subscription_delete AFTER DELETE ON subscription_transitions BEGIN
        INSERT INTO stats_dirty (account_id, contact_id) VALUES (OLD.account_id, OLD.contact_id); END""",
    """CREATE TRIGGER stats_forget_accounts AFTER DELETE ON accounts BEGIN
        DELETE FROM stats_counted WHERE account_id = OLD.id;
        DELETE FROM stats_counted_money WHERE account_id = OLD.id;
        DELETE FROM stats_counted_moves WHERE account_id = OLD.id;
        DELETE FROM stats_dirty WHERE account_id = OLD.id; END""",
]

TRIGGERS = (
    ("stats_note_contacts_insert", "contacts"),
    ("stats_note_contacts_update", "contacts"),
    ("stats_note_contacts_delete", "contacts"),
    ("stats_note_totals_insert", "contact_totals"),
    ("stats_note_totals_update", "contact_totals"),
    ("stats_note_totals_delete", "contact_totals"),
    ("stats_note_engagement_insert", "engagement_transitions"),
    ("stats_note_engagement_update", "engagement_transitions"),
    ("stats_note_engagement_delete", "engagement_transitions"),
    ("stats_note_subscription_insert", "subscription_transitions"),
    ("stats_note_subscription_update", "subscription_transitions"),
    ("stats_note_subscription_delete", "subscription_transitions"),
    ("stats_forget_accounts", "accounts"),
)


def create_triggers() -> None:
    """Create the triggers that note changed contacts (after the functions, on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_TRIGGERS)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "stats_dirty",
        sa.Column("id", big_id, nullable=False),
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("contact_id", big_id, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_dirty")),
    )
    with op.batch_alter_table("stats_dirty", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stats_dirty_account_id"), ["account_id"], unique=False)
    # Keyed by account first: what a fold reads and deletes is one account's, and a contact id
    # SQLite hands out again after a delete cannot meet another account's row.
    op.create_table(
        "stats_counted",
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("contact_id", big_id, nullable=False),
        sa.Column("engagement_status", sa.String(length=32), nullable=True),
        sa.Column("subscription_status", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "contact_id", name=op.f("pk_stats_counted")),
    )
    op.create_table(
        "stats_counted_money",
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("contact_id", big_id, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("revenue_orders", sa.Integer(), nullable=False),
        sa.Column("revenue", integration.store.types.Money(precision=18, scale=4), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "contact_id", "currency", name=op.f("pk_stats_counted_money")),
    )
    op.create_table(
        "stats_counted_moves",
        sa.Column("account_id", big_id, nullable=False),
        sa.Column("contact_id", big_id, nullable=False),
        sa.Column("existed", sa.Boolean(), nullable=False),
        sa.Column("then_engagement", sa.String(length=32), nullable=True),
        sa.Column("then_subscription", sa.String(length=32), nullable=True),
        sa.Column("engagement_status", sa.String(length=32), nullable=True),
        sa.Column("subscription_status", sa.String(length=32), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "contact_id", name=op.f("pk_stats_counted_moves")),
    )
    op.create_table(
        "stats_bases",
        sa.Column("account_id", big_id, autoincrement=False, nullable=False),
        sa.Column(
            "groups",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("since", integration.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rebuilt_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("folded_at", integration.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_stats_bases_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_stats_bases")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTIONS)
    create_triggers()
    # No account has a base yet: each one's first refresh counts every contact.


def downgrade() -> None:
    for name, table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if _postgresql() else ""))
    if _postgresql():
        for function in (
            "stats_note_contacts",
            "stats_note_totals",
            "stats_note_transitions",
            "stats_forget_accounts",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    for table in ("stats_bases", "stats_counted_moves", "stats_counted_money", "stats_counted"):
        op.drop_table(table)
    with op.batch_alter_table("stats_dirty", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stats_dirty_account_id"))
    op.drop_table("stats_dirty")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"
