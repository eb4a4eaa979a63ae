"""The gradebook's Alembic environment (see `grader.classbook.gradebook.migration`)."""
