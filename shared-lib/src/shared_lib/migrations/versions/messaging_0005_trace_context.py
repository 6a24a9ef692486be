"""the trace context of an outbox row and of a saga (both NULL with tracing off)

Revision ID: messaging_0005
Revises: messaging_0004
Create Date: 2026-12-07 14:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = 'messaging_0005'
down_revision = 'messaging_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('traceparent', sa.String(length=55), nullable=True))
    op.add_column('sagas', sa.Column('trace_id', sa.String(length=32), nullable=True))
    op.add_column('sagas', sa.Column('trace_span_id', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('sagas', 'trace_span_id')
    op.drop_column('sagas', 'trace_id')
    op.drop_column('outbox', 'traceparent')
