"""one of two revisions that follow each other

Revision ID: b2b2b2b2b2b2
Revises: a1a1a1a1a1a1
"""

from alembic import op
import sqlalchemy as sa

revision = "b2b2b2b2b2b2"
down_revision = "a1a1a1a1a1a1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("due_date")
