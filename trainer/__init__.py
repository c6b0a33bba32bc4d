"""Rollcall's training jobs, run as a subprocess that reports progress as JSON lines."""

from core import threads as _threads

# Before anything loads torch: OpenMP reads its wait policy once, when torch loads it (core/threads.py).
_threads.prefer_passive_waiting()
