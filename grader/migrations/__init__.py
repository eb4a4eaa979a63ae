"""Migration exercises: the Alembic runs that execute inside a child."""
