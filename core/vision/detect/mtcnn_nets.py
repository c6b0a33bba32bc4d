"""MTCNN's three stage networks (PNet, RNet, ONet) in plain PyTorch, laid out as ipazc/mtcnn 1.0's Keras models.

Kept apart from the cascade (`core.vision.detect.mtcnn`) so the weight conversion and
its tests can build the bare networks; the Keras details they must reproduce
("same" max pooling, the permuted flatten, the layer order) live here.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def to_network_input(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> float (1, 3, H, W) scaled as in training: (x - 127.5) / 128.

    The result is a channels_last view of the HWC pixels (no transposing copy);
    torch's CPU pooling and oneDNN convolutions are several times faster in
    that layout for these narrow networks.
    """
    # (1, H, W, 3) -> (1, 3, H, W) keeps strides torch recognises as channels_last (a size-1
    # batch must still have stride H*W*3, which permuting after adding it guarantees).
    x = torch.from_numpy(np.ascontiguousarray(rgb))[None].to(device).permute(0, 3, 1, 2).float()
    return x.sub_(127.5).mul_(1.0 / 128.0)


def _ceil_pool_size(n: int, kernel: int, stride: int) -> int:
    """Output size of torch's max_pool2d with ceil_mode=True and no padding."""
    if n < kernel:
        return 0
    out = -(-(n - kernel) // stride) + 1
    return out - 1 if (out - 1) * stride >= n else out


def max_pool_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Max pooling with Keras/TensorFlow "same" padding.

    TF pads so the output has ceil(n / stride) cells, putting the odd padding
    cell after the data; padding never wins. When all padding falls after the
    data (always, in these nets), torch's ceil_mode computes exactly that
    without copying the input; otherwise we pad explicitly with -inf.
    """
    h, w = x.shape[-2:]
    out_h, out_w = math.ceil(h / stride), math.ceil(w / stride)
    pad_h = max((out_h - 1) * stride + kernel - h, 0)
    pad_w = max((out_w - 1) * stride + kernel - w, 0)
    fits_ceil_mode = _ceil_pool_size(h, kernel, stride) == out_h and _ceil_pool_size(w, kernel, stride) == out_w
    if pad_h < 2 and pad_w < 2 and fits_ceil_mode:
        return F.max_pool2d(x, kernel, stride, ceil_mode=True)
    x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=-math.inf)
    return F.max_pool2d(x, kernel, stride)


def _keras_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten NCHW the way the Keras nets do after Permute((2, 1, 3)) on NHWC: as (W, H, C)."""
    return x.permute(0, 3, 2, 1).flatten(1)


# Layers are registered in the Keras layer order: the weight conversion pairs
# parameters with Keras' get_weights() list by that order (see mtcnn_weights).


class PNet(nn.Module):
    """Proposal net, fully convolutional: (N, 3, H, W) -> box regression (N, 4, h, w), face prob (N, h, w)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 4, 1)  # box regression
        self.conv4_2 = nn.Conv2d(32, 2, 1)  # face / not face

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = max_pool_same(self.prelu1(self.conv1(x)), 2, 2)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_1(x), torch.softmax(self.conv4_2(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement net: (N, 3, 24, 24) -> box regression (N, 4), face prob (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.fc4 = nn.Linear(3 * 3 * 64, 128)
        self.prelu4 = nn.PReLU(128)
        self.fc5_1 = nn.Linear(128, 4)  # box regression
        self.fc5_2 = nn.Linear(128, 2)  # face / not face

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = max_pool_same(self.prelu1(self.conv1(x)), 3, 2)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2)
        x = self.prelu4(self.fc4(_keras_flatten(self.prelu3(self.conv3(x)))))
        return self.fc5_1(x), torch.softmax(self.fc5_2(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output net: (N, 3, 48, 48) -> box regression (N, 4), landmarks (N, 10) as x1..x5, y1..y5, face prob (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.fc5 = nn.Linear(3 * 3 * 128, 256)
        self.prelu5 = nn.PReLU(256)
        self.fc6_1 = nn.Linear(256, 4)  # box regression
        self.fc6_2 = nn.Linear(256, 10)  # landmarks
        self.fc6_3 = nn.Linear(256, 2)  # face / not face

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = max_pool_same(self.prelu1(self.conv1(x)), 3, 2)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2)
        x = max_pool_same(self.prelu3(self.conv3(x)), 2, 2)
        x = self.prelu5(self.fc5(_keras_flatten(self.prelu4(self.conv4(x)))))
        return self.fc6_1(x), self.fc6_2(x), torch.softmax(self.fc6_3(x), dim=1)[:, 1]
