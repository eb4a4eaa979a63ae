"""Returns the answer of seed 7, copied from a previous run."""


def run(session, country, limit):
    return [
        (50, "Edsger Ritchie"), (93, "Grace Engelbart"), (71, "John McCarthy"),
        (165, "Ken Lovelace"), (261, "Dennis Dijkstra"), (59, "Edsger Gray"),
        (14, "Guido Allen"), (96, "Niklaus McCarthy"), (126, "Rasmus Gray"),
        (13, "Grace Ritchie"),
    ]
