"""Job configs: typed, validated, unknown keys rejected, saved into the run folder and read back."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigError
from trainer.config import DEFAULT_DSR_WEIGHTS, DSRTrainConfig, EvalLowresConfig, FinetuneConfig, load_config, save_config


def test_defaults_follow_the_recipe():
    cfg = DSRTrainConfig(data="faces")
    assert cfg.weights == {"l1": 1.0, "identity": 0.6, "feature": 0.18} == DEFAULT_DSR_WEIGHTS
    assert cfg.device == "auto" and cfg.grad_clip == 1.0 and cfg.max_minutes == 0
    assert cfg.loss_weights() == {"l1": 1.0, "identity": 0.6, "feature": 0.18}
    with pytest.raises(AttributeError):
        cfg.lr = 1.0  # type: ignore[misc]  # frozen


def test_a_weight_left_out_counts_as_zero():
    assert DSRTrainConfig(data="x", weights={"l1": 1.0}).loss_weights() == {"l1": 1.0, "identity": 0.0,
                                                                              "feature": 0.0}


def test_unknown_keys_are_rejected_with_the_known_ones_listed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: faces\nlearning_rate: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) learning_rate; known keys are .*\blr\b") as info:
        load_config("train-dsr", path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("data, problem", [
    ({"data": "f", "batch_size": "16"}, "'batch_size' must be an integer"),
    ({"data": "f", "batch_size": 16.0}, "'batch_size' must be an integer"),
    ({"data": "f", "batch_size": True}, "'batch_size' must be an integer"),
    ({"data": "f", "lr": "1e-3"}, "'lr' must be a number"),
    ({"data": "f", "lr": float("nan")}, "finite"),
    ({"data": "f", "weights": [1, 2]}, "'weights' must be a mapping"),
    ({"data": "f", "weights": {"l1": "one"}}, "must be a number"),
    ({"data": "f", "weights": {"l2": 1.0}}, "unknown loss"),
    ({"data": "f", "weights": {"l1": -1.0}}, "negative"),
    ({"data": "f", "weights": {"l1": 0.0}}, "positive weight"),
    ({"data": "f", "dsr": {"width": 3}}, "unknown argument"),
    ({"data": "f", "dsr": {"channels": 100000}}, "dsr: DSR argument channels must be between 1 and 256"),
    ({"data": "f", "dsr": {"blocks": 10**9}}, "dsr: DSR argument blocks must be between 0 and 64"),
    ({"data": "f", "dsr": {"blocks": 1e9}}, r"'dsr'\['blocks'\] must be an integer"),
    ({"data": "f", "dsr": {"up_channels": 0}}, "up_channels must be between 1 and 128"),
    ({"data": "f", "device": "gpu"}, "device must be one of"),
    ({"data": "f", "val_fraction": 1.0}, "val_fraction"),
    ({"data": "f", "batch_size": 0}, "batch_size"),
    ({"data": "  "}, "data is empty"),
    ({}, "data is empty"),
    ({"data": "f", "max_minutes": -1}, "max_minutes"),
    ({"data": "f", "landmark_shift_px": -0.5}, "landmark_shift_px must not be negative"),
])
def test_invalid_values_are_rejected_with_a_message(data, problem):
    with pytest.raises(ConfigError, match=problem):
        DSRTrainConfig.from_dict(data)


def test_both_training_jobs_degrade_with_their_landmark_error():
    for cls in (DSRTrainConfig, FinetuneConfig):
        assert (cls(data="f").degradation().jitter_px, cls(data="f").degradation().shift_px) == (0.4, 0.5)  # MTCNN
        yunet = cls(data="f", landmark_jitter_px=0.8, landmark_shift_px=1.2).degradation()
        assert (yunet.jitter_px, yunet.shift_px) == (0.8, 1.2) and yunet.face_px == (12.0, 32.0)


def test_ints_are_accepted_for_floats():
    cfg = DSRTrainConfig.from_dict({"data": "f", "lr": 1, "weights": {"l1": 2}})
    assert isinstance(cfg.lr, float) and cfg.weights == {"l1": 2.0}


def test_yaml_and_json_give_the_same_config_and_relative_paths_follow_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("data: faces\nbatch_size: 4\nweights: {l1: 1.0, identity: 0.5}\n")
    (tmp_path / "sub" / "c.json").write_text(json.dumps({"data": "faces", "batch_size": 4,
                                                         "weights": {"l1": 1.0, "identity": 0.5}}))
    a = load_config("train-dsr", tmp_path / "sub" / "c.yaml")
    b = load_config("train-dsr", tmp_path / "sub" / "c.json")
    assert a == b and a.data == str((tmp_path / "sub" / "faces").resolve())
    assert load_config("train-dsr", _write(tmp_path / "abs.yaml", "data: /abs/faces\n")).data == "/abs/faces"
    assert load_config("train-dsr", _write(tmp_path / "e.yaml", "data: x\nembedder: dlib\n")).embedder == "dlib"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_saved_config_reads_back_equal(tmp_path):
    cfg = DSRTrainConfig(data="/faces", lr=1e-3, weights={"l1": 1.0}, dsr={"channels": 8, "blocks": 1,
                                                                           "up_channels": 4})
    path = save_config(cfg, tmp_path / "run")
    assert path.name == "config.yaml"
    assert load_config("train-dsr", path) == cfg


@pytest.mark.parametrize("text, problem", [
    ("data: [unclosed\n", "not valid YAML"),
    ("- a\n- b\n", "must hold a mapping"),
])
def test_unreadable_files_say_what_is_wrong(tmp_path, text, problem):
    with pytest.raises(ConfigError, match=problem):
        load_config("train-dsr", _write(tmp_path / "c.yaml", text))


def test_missing_file_and_unknown_job(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("train-dsr", tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown job 'train-gan'"):
        load_config("train-gan", tmp_path / "nope.yaml")


def test_eval_lowres_config():
    cfg = EvalLowresConfig.from_dict({"data": "f", "checkpoint": "best.pt"})
    assert cfg.batch_size == 16
    with pytest.raises(ConfigError, match="unknown key"):
        EvalLowresConfig.from_dict({"data": "f", "epochs": 3})


def test_finetune_and_build_dataset_configs_refuse_what_cannot_work():
    from trainer.config import BuildDatasetConfig, FinetuneConfig

    cfg = FinetuneConfig.from_dict({"data": "ds/manifest.json"})
    assert (cfg.head_lr, cfg.backbone_lr, cfg.head_lr_stage2, cfg.arcface_scale, cfg.arcface_margin) == \
        (1e-4, 3e-6, 3e-5, 32.0, 0.3)
    assert cfg.loss_weights(1) == {"arcface": 1.0, "alignment": 0.0}
    assert cfg.loss_weights(2) == {"arcface": 1.0, "alignment": 0.3}
    for bad, message in (({"weights": {"arcface": 0.0}}, "alignment alone collapses"),
                         ({"weights": {"triplet": 1.0}}, "unknown loss"),
                         ({"stage1_epochs": 0, "stage2_epochs": 0}, "not both 0"),
                         ({"benchmark_detector": "yunet"}, "benchmark_detector"),
                         ({"stage3_epochs": 1}, "unknown key")):
        with pytest.raises(ConfigError, match=message):
            FinetuneConfig.from_dict({"data": "x", **bad})
    with pytest.raises(ConfigError, match="split must be one of images, subjects"):
        BuildDatasetConfig.from_dict({"data": "x", "split": "people"})
    with pytest.raises(ConfigError, match="min_images must be at least 2"):
        BuildDatasetConfig.from_dict({"data": "x", "min_images": 1})


def test_a_config_file_asking_for_a_huge_dsr_is_refused_before_building(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: faces\ndsr: {channels: 100000, blocks: 8, up_channels: 16}\n")
    with pytest.raises(ConfigError, match="channels must be between 1 and 256") as info:
        load_config("train-dsr", path)
    assert str(path) in str(info.value)
