"""add nickname to users

Revision ID: 5e0c1d2b3a49
Revises: 4d1c6a0e2b17
"""

from alembic import op
import sqlalchemy as sa

revision = "5e0c1d2b3a49"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("nickname")
