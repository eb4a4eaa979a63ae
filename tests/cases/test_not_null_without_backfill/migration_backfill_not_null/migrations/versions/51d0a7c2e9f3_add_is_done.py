"""add is_done in one step

Revision ID: 51d0a7c2e9f3
Revises: 4d1c6a0e2b17
"""

from alembic import op
import sqlalchemy as sa

revision = "51d0a7c2e9f3"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("is_done", sa.Boolean(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("is_done")
