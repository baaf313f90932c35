"""session_events.run: the workflow run that wrote an event (step numbers restart in a new run)

Revision ID: b1c2d3e4f5a6
Revises: 47b50e64ca3a
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b1c2d3e4f5a6'
down_revision: str | None = '47b50e64ca3a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('session_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run', sa.String(length=64), nullable=True))
        batch_op.drop_index('ix_session_events_session_step')
        batch_op.create_index('ix_session_events_session_run_step', ['session_id', 'run', 'step'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('session_events', schema=None) as batch_op:
        batch_op.drop_index('ix_session_events_session_run_step')
        batch_op.create_index('ix_session_events_session_step', ['session_id', 'step'], unique=False)
        batch_op.drop_column('run')
