"""Grading one submission: oracle and submission runs, analysis, checks, results."""
