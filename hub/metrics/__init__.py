"""Contact-center figures for the supervisor's wallboard: pure formulas (formulas.py) and the database
loader (load.py). Definitions: docs/metrics.md."""
