"""Helpers shared by tests, benchmarks and evaluation scripts (fixture generators)."""
