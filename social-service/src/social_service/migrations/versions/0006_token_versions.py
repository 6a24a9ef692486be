"""token versions: tokens issued before a password change are refused

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('token_version', sa.Integer(), server_default=sa.text('1'), nullable=False))


def downgrade() -> None:
    op.drop_column('users', 'token_version')
