"""The gradebook's Alembic environment (see `grader.gradebook.migration`)."""
