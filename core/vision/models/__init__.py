"""Face-embedding models: one file per family, one loader for any model file."""

from core.vision.models.base import Embedder, FaceEmbeddingModel, InputSpec
from core.vision.models.loading import default_embedder, load_embedder, load_model

__all__ = ["Embedder", "FaceEmbeddingModel", "InputSpec", "default_embedder", "load_embedder", "load_model"]
