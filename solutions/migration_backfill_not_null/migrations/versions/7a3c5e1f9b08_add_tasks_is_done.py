"""add tasks.is_done, NOT NULL

Revision ID: 7a3c5e1f9b08
Revises: 4d1c6a0e2b17
Create Date: 2024-09-09 10:00:00.000000

In three steps, as a NOT NULL column on a table that already holds rows needs:
add it nullable, give every existing row its value, then forbid NULL.
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "7a3c5e1f9b08"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("is_done", sa.Boolean(), nullable=True))
    tasks = sa.table("tasks", sa.column("status", sa.String), sa.column("is_done", sa.Boolean))
    # A NULL status is not 'done': the CASE gives it false, where status = 'done' gives NULL.
    op.execute(
        tasks.update().values(
            is_done=sa.case((tasks.c.status == "done", sa.true()), else_=sa.false())
        )
    )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.alter_column("is_done", existing_type=sa.Boolean(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("is_done")
