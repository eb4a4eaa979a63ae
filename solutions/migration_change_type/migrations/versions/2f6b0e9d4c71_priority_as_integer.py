"""tasks.priority as an integer

Revision ID: 2f6b0e9d4c71
Revises: 4d1c6a0e2b17
Create Date: 2024-09-09 10:00:00.000000

A cast alone would read 'high' as 0 (SQLite) or fail (PostgreSQL): the text is
converted by the mapping first, while the column still holds text, and only
digits are left for the cast.
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "2f6b0e9d4c71"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE tasks SET priority = CASE lower(trim(priority))"
        " WHEN 'low' THEN '1' WHEN 'medium' THEN '2'"
        " WHEN 'high' THEN '3' WHEN 'urgent' THEN '4' ELSE NULL END"
    )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.alter_column(
            "priority",
            existing_type=sa.String(length=10),
            type_=sa.Integer(),
            existing_nullable=True,
            postgresql_using="priority::integer",
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.alter_column(
            "priority",
            existing_type=sa.Integer(),
            type_=sa.String(length=10),
            existing_nullable=True,
            postgresql_using="priority::varchar",
        )
    op.execute(
        "UPDATE tasks SET priority = CASE priority"
        " WHEN '1' THEN 'low' WHEN '2' THEN 'medium'"
        " WHEN '3' THEN 'high' WHEN '4' THEN 'urgent' ELSE NULL END"
    )
