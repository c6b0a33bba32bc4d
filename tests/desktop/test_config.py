from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError
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
