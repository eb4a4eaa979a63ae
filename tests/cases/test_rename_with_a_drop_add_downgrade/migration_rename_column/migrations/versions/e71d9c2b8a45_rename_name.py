"""rename users.name to full_name, but undo it with a drop + add

Revision ID: e71d9c2b8a45
Revises: 4d1c6a0e2b17
Create Date: 2024-09-09 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

revision = "e71d9c2b8a45"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column(
            "name",
            new_column_name="full_name",
            existing_type=sa.String(length=100),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch_op.drop_column("full_name")
