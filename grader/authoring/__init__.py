"""Instructor tools over the catalog: verify, mutation analysis, release."""
