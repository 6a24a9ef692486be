"""blocks and private accounts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('is_private', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.create_table('blocks',
    sa.Column('blocker_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('blocked_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('blocker_id', 'blocked_id')
    )
    op.create_index('ix_blocks_blocked', 'blocks', ['blocked_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_blocks_blocked', table_name='blocks')
    op.drop_table('blocks')
    op.drop_column('users', 'is_private')
