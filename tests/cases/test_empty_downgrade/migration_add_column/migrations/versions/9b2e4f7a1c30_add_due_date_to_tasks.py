"""add due date to tasks

Revision ID: 9b2e4f7a1c30
Revises: 4d1c6a0e2b17
Create Date: 2024-09-09 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "9b2e4f7a1c30"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: the existing tasks have no due date, and need none.
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))


def downgrade() -> None:
    pass
