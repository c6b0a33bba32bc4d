"""The ArcFace classification head used to fine-tune embedders (training only; never shipped in a model).

logits = s * cos(theta + m) for the true class, s * cos(theta) for the others
(Deng et al., 2019), with insightface's fallback where theta + m would pass pi
(cos(theta) - m sin(m)), so the target logit keeps falling as theta grows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ArcFaceHead(nn.Module):
    def __init__(self, dim: int, classes: int, scale: float = 32.0, margin: float = 0.3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale, self.margin = float(scale), float(margin)
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)
        self.threshold = math.cos(math.pi - margin)
        self.fallback = math.sin(math.pi - margin) * margin

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(N, classes) cosine of each embedding with each class centre."""
        return F.linear(F.normalize(embeddings.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean ArcFace cross-entropy, the plain cosines for accuracy)."""
        cos = self.cosine(embeddings)
        target = cos.gather(1, labels[:, None]).clamp(-1.0 + 1e-7, 1.0 - 1e-7)
        sin = torch.sqrt((1.0 - target * target).clamp_min(0.0))
        phi = target * self.cos_m - sin * self.sin_m  # cos(theta + m)
        phi = torch.where(target > self.threshold, phi, target - self.fallback)
        logits = cos.scatter(1, labels[:, None], phi) * self.scale
        return F.cross_entropy(logits, labels), cos
