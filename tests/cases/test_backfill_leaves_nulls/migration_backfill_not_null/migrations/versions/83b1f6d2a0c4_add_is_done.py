"""add is_done, backfilled with a comparison

Revision ID: 83b1f6d2a0c4
Revises: 4d1c6a0e2b17
"""

from alembic import op
import sqlalchemy as sa

revision = "83b1f6d2a0c4"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("is_done", sa.Boolean(), nullable=True))
    # NULL = 'done' is NULL, not false: tasks without a status stay NULL.
    op.execute("UPDATE tasks SET is_done = (status = 'done')")


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("is_done")
