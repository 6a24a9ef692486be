"""deletion tombstones: purged users, deleted posts, withdrawn notifications

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('posts', sa.Column('deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('notifications', sa.Column('withdrawn', sa.Boolean(), server_default=sa.text('false'), nullable=False))


def downgrade() -> None:
    op.drop_column('notifications', 'withdrawn')
    op.drop_column('posts', 'deleted')
    op.drop_column('users', 'deleted')
