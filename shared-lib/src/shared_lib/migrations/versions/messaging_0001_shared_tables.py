"""shared tables: outbox, inbox, sagas, saga_steps

Revision ID: messaging_0001
Revises: 
Create Date: 2026-11-22 02:12:51.000000

Until this branch existed each service's own 0001 revision created these
tables, so a database migrated before then already has them: every table and
index is created only if it does not exist yet, and upgrading such a database
just records this revision.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'messaging_0001'
down_revision = None
branch_labels = ('messaging',)
depends_on = None


def upgrade() -> None:
    op.create_table('inbox',
    sa.Column('consumer', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.UUID(), nullable=False),
    sa.Column('message_type', sa.String(length=100), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('reply', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.PrimaryKeyConstraint('consumer', 'message_id'),
    if_not_exists=True,
    )
    op.create_index('ix_inbox_processed_at', 'inbox', ['processed_at'], unique=False, if_not_exists=True)
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('message_id', sa.UUID(), nullable=False),
    sa.Column('exchange', sa.String(length=200), nullable=False),
    sa.Column('routing_key', sa.String(length=200), nullable=False),
    sa.Column('message_type', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('correlation_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index('ix_outbox_message_id', 'outbox', ['message_id'], unique=False, if_not_exists=True)
    op.create_index('ix_outbox_sent_at', 'outbox', ['sent_at'], unique=False, postgresql_where=sa.text('sent_at IS NOT NULL'), if_not_exists=True)
    op.create_index('ix_outbox_unsent', 'outbox', ['id'], unique=False, postgresql_where=sa.text('sent_at IS NULL'), if_not_exists=True)
    op.create_table('saga_steps',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('saga_id', sa.UUID(), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('compensation', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index('ix_saga_steps_saga', 'saga_steps', ['saga_id', 'id'], unique=False, if_not_exists=True)
    op.create_table('sagas',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index('ix_sagas_due', 'sagas', ['deadline'], unique=False, postgresql_where=sa.text("status IN ('running', 'compensating')"), if_not_exists=True)
    op.create_index('ix_sagas_status_created', 'sagas', ['status', 'created_at'], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index('ix_sagas_status_created', table_name='sagas')
    op.drop_index('ix_sagas_due', table_name='sagas', postgresql_where=sa.text("status IN ('running', 'compensating')"))
    op.drop_table('sagas')
    op.drop_index('ix_saga_steps_saga', table_name='saga_steps')
    op.drop_table('saga_steps')
    op.drop_index('ix_outbox_unsent', table_name='outbox', postgresql_where=sa.text('sent_at IS NULL'))
    op.drop_index('ix_outbox_sent_at', table_name='outbox', postgresql_where=sa.text('sent_at IS NOT NULL'))
    op.drop_index('ix_outbox_message_id', table_name='outbox')
    op.drop_table('outbox')
    op.drop_index('ix_inbox_processed_at', table_name='inbox')
    op.drop_table('inbox')
