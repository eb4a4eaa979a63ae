def run(session, country, limit):
    raise ValueError("the results file must still be written")
