"""add due_date, with a typo

Revision ID: 5e9a1b3c7d20
Revises: 4d1c6a0e2b17
"""

from alembic import op
import sqlalchemy as sa

revision = "5e9a1b3c7d20"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("due_date")
