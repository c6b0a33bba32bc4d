from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ModelFileError
from core.vision.models.dlib_dat import looks_like_dlib_net, read_dlib_net
from core.vision.models.dlib_resnet import bundled_weights_path
from core.vision.models.loading import load_model


def test_parses_the_bundled_network() -> None:
    net = read_dlib_net(bundled_weights_path())
    kinds = [layer.kind for layer in net.layers]
    assert net.loss == "loss_metric_2"
    assert net.input_config["nr"] == net.input_config["nc"] == 150
    assert kinds.count("con_4") == 29 and kinds.count("add_prev_") == 14 and kinds[-1] == "fc_2"


def _copy_head(tmp_path: Path, n: int) -> Path:
    data = bundled_weights_path().read_bytes()
    path = tmp_path / "cut.dat"
    path.write_bytes(data[:n])
    return path


@pytest.mark.parametrize("keep", [40, 300, 5_000_000])
def test_truncated_file_is_a_clear_error(tmp_path: Path, keep: int) -> None:
    path = _copy_head(tmp_path, keep)
    assert looks_like_dlib_net(path.read_bytes()[:64])
    with pytest.raises(ModelFileError, match="truncated") as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_other_dlib_files_are_rejected(tmp_path: Path) -> None:
    shape_predictor = bundled_weights_path().parent / "shape_predictor_5_face_landmarks.dat"
    with pytest.raises(ModelFileError):
        read_dlib_net(shape_predictor)


def test_trailing_garbage_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "extra.dat"
    path.write_bytes(bundled_weights_path().read_bytes() + b"\x00\x01")
    with pytest.raises(ModelFileError, match="unexpected bytes"):
        read_dlib_net(path)
