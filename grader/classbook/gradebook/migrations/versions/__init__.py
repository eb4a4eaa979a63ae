"""The gradebook's revisions, oldest first."""
