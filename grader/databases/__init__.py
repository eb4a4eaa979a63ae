"""Databases: the domain models, the seeded datasets, SQLite and server backends."""
