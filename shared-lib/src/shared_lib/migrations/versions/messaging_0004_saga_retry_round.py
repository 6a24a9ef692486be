"""an operator retry's round in a column of its own, out of the saga's data

Revision ID: messaging_0004
Revises: messaging_0003
Create Date: 2026-12-03 20:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = 'messaging_0004'
down_revision = 'messaging_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sagas', sa.Column('retry_round', sa.Integer(), nullable=False,
                                     server_default=sa.text('0')))
    op.execute("UPDATE sagas SET retry_round = (data->>'_retry_round')::int, "
               "data = data - '_retry_round' WHERE data ? '_retry_round'")


def downgrade() -> None:
    op.execute("UPDATE sagas SET data = data || jsonb_build_object('_retry_round', "
               "retry_round) WHERE retry_round > 0")
    op.drop_column('sagas', 'retry_round')
