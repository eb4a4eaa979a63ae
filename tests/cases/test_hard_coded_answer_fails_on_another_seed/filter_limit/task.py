"""Returns the answer of seed 7, copied from a previous run."""


def run(session, country, limit):
    return [
        (4, "Tim Lamport"), (86, "Ivan Floyd"), (70, "Ken Floyd"),
        (291, "Rasmus Allen"), (245, "Donald Dijkstra"), (46, "Shafi Knuth"),
        (292, "Frances Ritchie"), (45, "Yukihiro Lamport"), (267, "Donald Stonebraker"),
        (285, "Frances Hamilton"),
    ]
