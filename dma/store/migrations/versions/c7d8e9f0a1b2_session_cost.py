"""sessions.cost_micro_usd: the exact list cost of a session's model requests (budgets, usage.list_cost)

Revision ID: c7d8e9f0a1b2
Revises: 5c2d7e9a1f30
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c7d8e9f0a1b2'
down_revision: str | None = '5c2d7e9a1f30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cost_micro_usd', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('cost_micro_usd')
