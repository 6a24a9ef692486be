"""outbox rows parked after too many failed deliveries

Revision ID: messaging_0003
Revises: messaging_0002
Create Date: 2026-12-02 18:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = 'messaging_0003'
down_revision = 'messaging_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('parked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('outbox', 'parked_at')
