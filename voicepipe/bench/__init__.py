"""Benchmark drivers behind `voicepipe bench …`: each measures voicepipe against a baseline in one run."""
