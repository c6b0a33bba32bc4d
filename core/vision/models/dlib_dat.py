"""Reader for dlib's serialised DNN files (`*.dat` written by `dlib::serialize(net)`).

Lets Rollcall use dlib's face-recognition weights without dlib: the format is dlib's documented
serialisation. Only the layer types of dlib's face-recognition ResNet are understood; anything else is
a clear error rather than a guess.

Format: docs/MODELS.md#dlibs-dat-format
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.protected_files import ensure_not_database_file
from core.errors import ModelFileError

DLIB_MAGIC_PREFIX = b"\x01\x01\x01"  # add_loss_layer version 1, then a short string length


@dataclass
class DlibLayer:
    kind: str  # dlib's serialisation tag, e.g. "con_4", "affine_", "relu_"
    config: dict = field(default_factory=dict)
    params: np.ndarray | None = None


@dataclass
class DlibNet:
    loss: str
    loss_config: dict
    input_kind: str
    input_config: dict
    layers: list[DlibLayer]  # bottom (next to the input) first


class _Truncated(Exception):
    pass


class _Stream:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Truncated()
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def peek_byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Truncated()
        return self.data[self.pos]

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise ValueError(f"bad integer control byte 0x{control:02x} at offset {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0**exponent

    def str(self, max_len: int = 256) -> str:
        n = self.int()
        if not 0 <= n <= max_len:
            raise ValueError(f"implausible string length {n} at offset {self.pos}")
        return self._take(n).decode("ascii", errors="strict")

    def bool(self) -> bool:
        b = self._take(1)
        if b not in (b"0", b"1"):
            raise ValueError(f"expected a boolean byte at offset {self.pos - 1}, got {b!r}")
        return b == b"1"

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise ValueError(f"unsupported tensor version {version} at offset {self.pos}")
        dims = [self.int() for _ in range(4)]
        if any(d < 0 for d in dims):
            raise ValueError(f"negative tensor dimension {dims}")
        count = int(np.prod(dims))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.int()
        if version != 1:
            raise ValueError(f"unsupported alias_tensor version {version}")
        n, k, nr, nc = (self.int() for _ in range(4))
        return n, k, nr, nc


def _read_details(s: _Stream, kind: str) -> DlibLayer:
    if kind == "con_4":
        params = s.tensor().reshape(-1)
        keys = ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        cfg = {k: s.int() for k in keys}
        cfg["filters_shape"] = s.alias()
        cfg["bias_shape"] = s.alias()
        for k in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
            cfg[k] = s.float()
        return DlibLayer(kind, cfg, params)
    if kind == "affine_":
        params = s.tensor().reshape(-1)
        cfg = {"gamma_shape": s.alias(), "beta_shape": s.alias(), "mode": s.int()}
        return DlibLayer(kind, cfg, params)
    if kind == "fc_2":
        cfg = {"num_outputs": s.int(), "num_inputs": s.int()}
        params = s.tensor().reshape(-1)
        cfg["weights_shape"] = s.alias()
        cfg["bias_shape"] = s.alias()
        cfg["bias_mode"] = s.int()
        for k in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
            cfg[k] = s.float()
        return DlibLayer(kind, cfg, params)
    if kind in ("max_pool_2", "avg_pool_2"):
        keys = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        return DlibLayer(kind, {k: s.int() for k in keys})
    if kind in ("relu_", "add_prev_"):
        return DlibLayer(kind)
    raise ValueError(f"unsupported dlib layer type '{kind}'")


def read_dlib_net(path: str | Path) -> DlibNet:
    """Parse a dlib DNN file. Raises ModelFileError for anything unreadable or unsupported."""
    path = Path(path)
    ensure_not_database_file(path, "a model file")  # reading it would drop SQLite's locks
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    if not data:
        raise ModelFileError(path, "the file is empty", "Copy the model file again.")
    s = _Stream(data)
    try:
        if s.int() != 1:
            raise ValueError("not a dlib network (unexpected loss-layer version)")
        loss = s.str()
        if loss != "loss_metric_2":
            raise ValueError(f"unsupported loss layer '{loss}' (only metric-learning nets are embedders)")
        loss_config = {"margin": s.float(), "distance_threshold": s.float()}

        versions: list[int] = []
        while s.peek_byte() == 0x01 and s.pos + 1 < len(data) and data[s.pos + 1] in (1, 2, 3):
            versions.append(s.int())
        if not versions or versions[-1] not in (2, 3):
            raise ValueError("network wrappers not found")
        input_kind = s.str()
        if input_kind != "input_rgb_image_sized":
            raise ValueError(f"unsupported input layer '{input_kind}'")
        input_config = {
            "avg_red": s.float(),
            "avg_green": s.float(),
            "avg_blue": s.float(),
            "nr": s.int(),
            "nc": s.int(),
        }
        n_wrapped = versions.count(2)  # every add_layer above the bottom one is version 2
        if any(v not in (1, 2) for v in versions[:-1]):
            raise ValueError("this network was saved by a dlib version whose layout is not supported")

        layers: list[DlibLayer] = []
        for i in range(n_wrapped + (1 if versions[-1] == 3 else 0)):
            layer = _read_details(s, s.str())
            layers.append(layer)
            for _ in range(3):  # setup-called, gradient-stale, output-disabled flags
                s.bool()
            s.tensor()  # x_grad
            s.tensor()  # cached_output
            s.tensor()  # params_grad (add_layer v2) / grad_final (bottom layer)
            if i == 0 and versions[-1] == 3:
                s.int()  # sample expansion factor
        if s.pos != len(data):
            raise ValueError(f"{len(data) - s.pos} unexpected bytes after the network")
    except _Truncated:
        raise ModelFileError(
            path, f"the file is truncated (ends after {len(data)} bytes)", "Copy the model file again."
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(path, f"not a dlib face-recognition network ({exc})") from None
    return DlibNet(loss, loss_config, input_kind, input_config, layers)


def looks_like_dlib_net(head: bytes) -> bool:
    """Cheap check on a file's first bytes: does it start like a dlib metric-learning net?"""
    return head.startswith(DLIB_MAGIC_PREFIX) and b"loss_metric" in head[:32]
