"""Evaluation protocols: identification on person folders, pair verification, low-resolution pairs, metrics."""
