"""redelivery: sessions.redeliver_at and a partial index of queued user events

Revision ID: 5c2d7e9a1f30
Revises: b1c2d3e4f5a6
Create Date: 2026-12-01 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5c2d7e9a1f30'
down_revision: str | None = 'b1c2d3e4f5a6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redeliver_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        'ix_sessions_redeliver_at',
        'sessions',
        ['redeliver_at'],
        unique=False,
        sqlite_where=sa.text('redeliver_at IS NOT NULL'),
        postgresql_where=sa.text('redeliver_at IS NOT NULL'),
    )
    op.create_index(
        'ix_session_events_queued',
        'session_events',
        ['session_id', 'created_at'],
        unique=False,
        sqlite_where=sa.text('processed_at IS NULL'),
        postgresql_where=sa.text('processed_at IS NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_session_events_queued', table_name='session_events')
    op.drop_index('ix_sessions_redeliver_at', table_name='sessions')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('redeliver_at')
