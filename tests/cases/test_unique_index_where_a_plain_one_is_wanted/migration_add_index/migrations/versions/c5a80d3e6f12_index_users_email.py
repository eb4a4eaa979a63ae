"""index users.email

Revision ID: c5a80d3e6f12
Revises: 4d1c6a0e2b17
Create Date: 2024-09-09 10:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "c5a80d3e6f12"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A unique index: faster, but a new rule on the data too.
    op.create_index(op.f("ix_users_email"), "users", ["email"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_users_email"), table_name="users")
