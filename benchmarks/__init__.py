"""Benchmarks that print figures (run from the repository root: python -m benchmarks.<name>)
and the local Dask/PostgreSQL services they and the tests start."""
