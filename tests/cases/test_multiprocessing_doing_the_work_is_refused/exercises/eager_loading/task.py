import multiprocessing

from sqlalchemy import select

from grader.domain import User


def _n_plus_one(session, country):
    users = session.scalars(select(User).where(User.country == country).order_by(User.id)).all()
    return [
        (user.id, user.name, sorted(t.title for t in user.tasks if t.status != "done"))
        for user in users
    ]


def _work(url, country, queue):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    with Session(create_engine(url)) as session:
        queue.put(_n_plus_one(session, country))


def run(session, country):
    multiprocessing.current_process().daemon = False
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    worker = ctx.Process(target=_work, args=(str(session.get_bind().url), country, queue))
    worker.start()
    return queue.get()
