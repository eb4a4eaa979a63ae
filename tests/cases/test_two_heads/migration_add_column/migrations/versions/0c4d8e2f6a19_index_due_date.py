"""index due_date (also written on top of the starter's head)

Revision ID: 0c4d8e2f6a19
Revises: 4d1c6a0e2b17
"""

from alembic import op

revision = "0c4d8e2f6a19"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_title", "tasks", ["title"])


def downgrade() -> None:
    op.drop_index("ix_tasks_title", table_name="tasks")
