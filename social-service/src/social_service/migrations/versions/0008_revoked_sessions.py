"""revoked login sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('revoked_sessions',
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('session_id')
    )
    op.create_index('ix_revoked_sessions_until', 'revoked_sessions', ['until'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_revoked_sessions_until', table_name='revoked_sessions')
    op.drop_table('revoked_sessions')
