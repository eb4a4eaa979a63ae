"""One exception hierarchy for ormgrade.

Errors travel as exceptions through the domain code and become user messages
only at the edges (the CLI and the pytest plugin).
"""

from __future__ import annotations


class OrmgradeError(Exception):
    """Root of every error ormgrade raises on purpose."""


class CatalogError(OrmgradeError):
    """The exercise catalog is missing, incomplete or malformed."""


class SpecError(CatalogError):
    """An exercise spec is malformed: unknown check kind, bad field, missing file."""


class UnknownExerciseError(CatalogError):
    """An exercise id that the catalog does not hold."""


class SubmissionError(OrmgradeError):
    """The submission directory cannot be read as a submission at all."""


class DatabaseError(OrmgradeError):
    """A database backend cannot be reached or prepared (a broken environment)."""


class UsageError(OrmgradeError):
    """A bad value on the command line or in a configuration file."""


class SpecFieldError(SpecError):
    """One field of a spec has a bad value.

    Raised where the field is read (a check's options); the spec loader puts
    the file and the rest of the field's path in front.

    Attributes:
        field: The field's name, or its dotted path below the reader.
        problem: What is wrong: the expected and the found value.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
