"""tasks.priority as an integer, by a new column

Revision ID: 3a7e9c1b5d02
Revises: 4d1c6a0e2b17
"""

from alembic import op
import sqlalchemy as sa

revision = "3a7e9c1b5d02"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None

LEVELS = {"low": 1, "medium": 2, "high": 3, "urgent": 4}
tasks = sa.table(
    "tasks",
    sa.column("id", sa.Integer),
    sa.column("priority", sa.String),
    sa.column("priority_level", sa.Integer),
)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("priority_level", sa.Integer(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(tasks.c.id, tasks.c.priority)).all()
    for task_id, priority in rows:
        level = LEVELS.get((priority or "").strip().lower())
        connection.execute(
            tasks.update().where(tasks.c.id == task_id).values(priority_level=level)
        )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("priority")
        batch_op.alter_column(
            "priority_level", new_column_name="priority", existing_type=sa.Integer()
        )


def downgrade() -> None:
    names = {level: name for name, level in LEVELS.items()}
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.alter_column(
            "priority", new_column_name="priority_level", existing_type=sa.Integer()
        )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("priority", sa.String(length=10), nullable=True))
    connection = op.get_bind()
    for task_id, level in connection.execute(sa.select(tasks.c.id, tasks.c.priority_level)).all():
        connection.execute(
            tasks.update().where(tasks.c.id == task_id).values(priority=names.get(level))
        )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("priority_level")
