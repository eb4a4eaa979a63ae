"""Reporters: turn a `GradeReport` into text, files or CI outputs.

Reporters read only the results; they never run SQL or submission code.
"""
