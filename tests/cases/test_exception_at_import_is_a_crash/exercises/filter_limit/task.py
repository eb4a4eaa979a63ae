LIMITS = {"default": 10}
DEFAULT = LIMITS["maximum"]

def run(session, country, limit):
    return []
