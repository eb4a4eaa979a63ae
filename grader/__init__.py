"""ormgrade: exercises and an autograder that teach ORM performance."""

__version__ = "0.1.0"
