"""Seeing faces: image input, detection, alignment, quality, the embedding models and the pipeline that joins them."""
