"""Rollcall's training jobs, run as a subprocess that reports progress as JSON lines."""
