"""Analysis of what a run recorded: SQL shape (sqlparse) and query plans (EXPLAIN)."""
