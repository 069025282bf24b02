"""Pure domain logic: stdlib, numpy and pydantic only, no I/O (a test walks the imports)."""
