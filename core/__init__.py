"""Rollcall's engine: images in, faces with embeddings out; the gallery and attendance logic.

This package never imports Qt, the desktop app or the trainer.
"""

__version__ = "0.1.0"
