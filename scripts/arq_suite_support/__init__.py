"""Helpers of scripts/arq_suite: arq 0.28.0's own tests, unpacked from its sdist, run on an embedded Valkey."""
