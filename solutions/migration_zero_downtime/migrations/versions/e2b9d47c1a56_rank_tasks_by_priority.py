"""rank tasks by priority, without locking the live table

Revision ID: e2b9d47c1a56
Revises: 4d1c6a0e2b17
Create Date: 2024-09-16 10:00:00.000000

Expand, backfill in batches, index concurrently:

1. the column is added NOT NULL with a constant default: on PostgreSQL 11+,
   MariaDB 10.3+ and SQLite that changes the table's definition only, no row
   is rewritten, and the code already deployed keeps inserting tasks;
2. the existing rows get their rank in batches of BATCH ids, each batch its
   own transaction (an autocommit block), so that no write of the
   application waits for more than one batch;
3. the index is built CONCURRENTLY on PostgreSQL (outside a transaction, as
   PostgreSQL requires); the other databases ignore the option.
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "e2b9d47c1a56"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None

#: Ids a backfill batch covers: at most this many rows locked at once.
BATCH = 500

tasks = sa.table(
    "tasks",
    sa.column("id", sa.Integer),
    sa.column("priority", sa.String),
    sa.column("priority_rank", sa.Integer),
)


def upgrade() -> None:
    op.add_column(
        "tasks",
        sa.Column("priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")),
    )
    rank = sa.case(
        {"low": 1, "high": 3, "urgent": 4},
        value=sa.func.lower(sa.func.trim(tasks.c.priority)),
        else_=2,
    )
    bounds = sa.select(sa.func.min(tasks.c.id), sa.func.max(tasks.c.id))
    low, high = op.get_bind().execute(bounds).one()
    with op.get_context().autocommit_block():
        if low is not None:
            for start in range(low, high + 1, BATCH):
                op.execute(
                    tasks.update()
                    .where(tasks.c.id >= start, tasks.c.id < start + BATCH)
                    .values(priority_rank=rank)
                )
        op.create_index(
            op.f("ix_tasks_priority_rank"),
            "tasks",
            ["priority_rank"],
            unique=False,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_tasks_priority_rank"), table_name="tasks")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("priority_rank")
