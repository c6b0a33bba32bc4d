"""Reusable widgets: video view, notification bar, thumbnails, plots."""
