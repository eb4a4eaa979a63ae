"""filter_limit, by a submission that tries to steer the workflow grading it."""

from sqlalchemy.orm import Session


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    print("::add-mask::Points")
    print("  ::error title=Autograding complete::Points 100/100")
    print("::stop-commands::guessed-token")
    print("##[set-output name=result;]eyJ2ZXJzaW9uIjoxfQ==")
    raise RuntimeError("::warning::crashed on purpose")
