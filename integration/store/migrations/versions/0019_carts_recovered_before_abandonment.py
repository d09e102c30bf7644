"""carts recorded as recovered by an order placed before their abandonment are settled by the timeline

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

An order placed by a checkout's abandonment time completed it: such a checkout becomes completed
(at the order's time) and loses its abandonment and recovery, and their events. An order placed
before the checkout was even created had nothing to do with it: the checkout stays abandoned and
loses the recovery and its event. Nothing is restored on downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

checkouts = sa.table(
    "checkouts",
    sa.column("id", sa.BigInteger()),
    sa.column("state", sa.String()),
    sa.column("created_at", sa.DateTime()),
    sa.column("completed_at", sa.DateTime()),
    sa.column("abandoned_at", sa.DateTime()),
    sa.column("recovered_at", sa.DateTime()),
    sa.column("recovered_by_order_id", sa.BigInteger()),
    sa.column("recovery_rule", sa.String()),
)
events = sa.table(
    "interaction_events", sa.column("source", sa.String()), sa.column("source_event_id", sa.String())
)

early = sa.and_(checkouts.c.state == "recovered", checkouts.c.recovered_at < checkouts.c.abandoned_at)
before_checkout = sa.and_(early, checkouts.c.recovered_at < checkouts.c.created_at)
completed = sa.and_(early, checkouts.c.recovered_at >= checkouts.c.created_at)
no_recovery = {"recovered_at": None, "recovered_by_order_id": None, "recovery_rule": None}


def _forget_events(where: sa.ColumnElement[bool], kinds: tuple[str, ...]) -> None:
    for kind in kinds:
        ids = sa.select(sa.cast(checkouts.c.id, sa.String()) + sa.literal(f":{kind}", sa.String())).where(
            where
        )
        op.execute(events.delete().where(events.c.source == "carts", events.c.source_event_id.in_(ids)))


def upgrade() -> None:
    _forget_events(completed, ("cart_abandoned", "cart_recovered"))
    _forget_events(before_checkout, ("cart_recovered",))
    op.execute(
        checkouts.update()
        .where(completed)
        .values(state="completed", completed_at=checkouts.c.recovered_at, abandoned_at=None, **no_recovery)
    )
    op.execute(checkouts.update().where(before_checkout).values(state="abandoned", **no_recovery))


def downgrade() -> None:
    """Nothing to undo: the settled carts keep the state the timeline gives them."""
