"""Execution: run one job in a sandboxed child process under capture."""
