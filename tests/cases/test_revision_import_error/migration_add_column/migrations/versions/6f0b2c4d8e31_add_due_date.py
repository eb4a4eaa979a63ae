"""add due_date, importing a helper that does not exist

Revision ID: 6f0b2c4d8e31
Revises: 4d1c6a0e2b17
"""

from alembic import op
import sqlalchemy as sa

revision = "6f0b2c4d8e31"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None

DUE_DATE = sa.Column("due_date", sa.Dat(), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(DUE_DATE)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("due_date")
