from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.service.settings import DEFAULT_SR_BELOW_PX, SR_BELOW_PX_RANGE
from desktop.config import DesktopConfig, load_config, save_config


def test_defaults_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "desktop.json"
    config = DesktopConfig(source="clip.mp4", min_face_size=32, operator="desk 1")
    save_config(config, path)
    assert load_config(path) == config
    assert not (tmp_path / "desktop.json.part").exists()


def test_no_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.json").source == DesktopConfig().source


@pytest.mark.parametrize(("data", "message"), [
    ({"sorce": "0"}, "unknown setting\\(s\\) sorce"),
    ({"min_face_size": "20"}, "'min_face_size' must be a int"),
    ({"min_face_size": True}, "'min_face_size' must be a int"),
    ({"min_face_size": 5}, "between 12 and 1000"),
    ({"device": "tpu"}, "device must be one of cpu, cuda, auto"),
    ({"detector": "yunet:"}, "needs its .onnx file"),
    ({"file_pace": "fast"}, "file_pace must be one of realtime, every_frame"),
    ({"source": "  "}, "the source is empty"),
    ({"sr_below_px": 8}, "sr_below_px must be 0 .* between 12 and 200 pixels, got 8"),
    ({"sr_below_px": 201}, "between 12 and 200 pixels, got 201"),
    ({"sr_below_px": -1}, "between 12 and 200 pixels, got -1"),
    ({"sr_below_px": 32.0}, "'sr_below_px' must be a int"),
    ({"sr_model": None}, "'sr_model' must be a str"),
])
def test_bad_settings_are_rejected_with_the_file_named(tmp_path: Path, data: dict, message: str) -> None:
    path = tmp_path / "desktop.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_a_corrupt_file_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "desktop.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="Fix or delete it"):
        load_config(path)


def test_config_is_frozen() -> None:
    config = DesktopConfig()
    with pytest.raises(AttributeError):
        config.source = "1"  # type: ignore[misc]
    assert config.replace(source="1").source == "1" and config.source == "0"


def test_small_face_settings_round_trip_and_default_to_automatic(tmp_path: Path) -> None:
    assert DesktopConfig().sr_below_px is None and DesktopConfig().sr_model == ""  # automatic
    assert SR_BELOW_PX_RANGE[0] <= DEFAULT_SR_BELOW_PX <= SR_BELOW_PX_RANGE[1]
    path = tmp_path / "desktop.json"
    config = DesktopConfig(sr_model=str(tmp_path / "best.pt"), sr_below_px=40)
    save_config(config, path)
    assert json.loads(path.read_text())["sr_below_px"] == 40
    assert load_config(path) == config
    for width in (0, 12, 200):
        assert DesktopConfig(sr_below_px=width).sr_below_px == width
    save_config(DesktopConfig(), path)  # automatic is saved as null and read back as automatic, 0 as off
    assert json.loads(path.read_text())["sr_below_px"] is None and load_config(path).sr_below_px is None
    save_config(DesktopConfig(sr_below_px=0), path)
    assert load_config(path).sr_below_px == 0 and load_config(path).engine.sr_route_off


def test_a_file_saved_before_the_small_face_settings_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "desktop.json"
    path.write_text(json.dumps({"source": "1", "file_pace": "realtime", "detector": "mtcnn", "min_face_size": 24,
                                "device": "cpu", "data_folder": "", "operator": "desk", "record_unknown": True}))
    config = load_config(path)
    assert config.source == "1" and config.min_face_size == 24 and config.record_unknown
    assert config.sr_model == "" and config.sr_below_px is None  # never chosen: automatic


def test_a_hand_edited_operator_name_is_cleaned_like_every_stored_text(tmp_path: Path) -> None:
    path = tmp_path / "desktop.json"
    path.write_text(json.dumps({"operator": "Ms\u001b[31m K\r\n"}), encoding="utf-8")
    assert load_config(path).operator == "Ms [31m K"
    path.write_text(json.dumps({"operator": "K" * 500}), encoding="utf-8")
    with pytest.raises(ConfigError, match="at most 200"):
        load_config(path)
