"""Benchmarks: scripts that measure and print (python -m bench.NAME)."""
