"""The Settings tab: a model change re-embeds the gallery in the background, a bad weights file
changes nothing, a DSR checkpoint super-resolves small faces (a broken one is one error and
bicubic upscaling), False marks explains the threshold policy and follows the gallery and the
operator's choice, a bar set by hand persists and yields to the policy again, calibration draws its
curve (or says why not), and invalid settings keep the old ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QPushButton

from core.gallery.policy import DEFAULT_SESSIONS, SESSIONS_CHOICES, read_sessions, site_pairs_needed
from core.storage.db import Database
from core.vision.degrade import face_width
from core.gallery.store import Gallery
from core.vision.imageio import read_image
from core.gallery.matching import TemplateIndex
from core.vision.models.checkpoint import make_checkpoint, save_atomic
from core.vision.models.dsr import DSRNet
from core.vision.models.superres import BicubicResolver, SuperResolver
from core.service.settings import DEFAULT_SR_BELOW_PX
from desktop.pages.settings_page import SettingsPage
from tests.conftest import shared_path
from tests.desktop.conftest import enrol_photos, errors

TIMEOUT = 120_000


@pytest.fixture
def page(ctx, qtbot) -> SettingsPage:
    page = SettingsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    return page


def wait_idle(page: SettingsPage, qtbot) -> None:
    # the page's tasks ended and their results reached the page (and any task they started, too)
    qtbot.waitUntil(lambda: not page.busy and page.ctx.tasks.idle, timeout=TIMEOUT)


def recognise(ctx, photo: Path) -> int | None:
    model = ctx.gallery.active_model()
    faces = ctx.pipeline.process(read_image(photo)).faces
    largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    index = TemplateIndex(*ctx.gallery.templates(model.id))
    return index.identify(largest.embedding[None], model.threshold)[0].person_id


def test_changing_the_model_re_embeds_the_gallery(ctx, page, qtbot, refs: Path) -> None:
    weights = shared_path("models", "edgeface_xxs_q.pt")
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    alex = enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png", refs / "alex-lacamoire.png")
    old = ctx.gallery.active_model()
    old_detector = ctx.pipeline.detector
    progress: list[tuple[int, int]] = []

    task = page.choose_model_file(weights)
    assert task is not None and page.busy
    task.progressed.connect(lambda done, total, _text: progress.append((done, total)))
    assert page.progress_dialog is not None and page.progress_dialog.isVisible()
    assert not page.model_file_button.isEnabled()
    with qtbot.waitSignal(ctx.gallery_changed, timeout=TIMEOUT):
        pass
    wait_idle(page, qtbot)

    assert page.progress_dialog is None and page.model_file_button.isEnabled()
    assert (3, 3) in progress  # the three stored samples were re-embedded
    active = ctx.gallery.active_model()
    assert active.id != old.id and active.source == str(weights) and active.arch.startswith("edgeface")
    assert active.dim == 512
    labels, embeddings = ctx.gallery.sample_embeddings(active.id)
    assert sorted(labels.tolist()) == sorted([lin, alex, alex]) and embeddings.shape == (3, 512)
    assert ctx.pipeline.embedder.source == str(weights) and ctx.pipeline.embedder.dim == 512
    assert ctx.pipeline.detector is old_detector
    assert str(weights.name) in page.model_label.text() or weights.stem in page.model_label.text()
    assert not errors(ctx)
    assert recognise(ctx, refs / "lin-manuel-miranda.png") == lin
    assert recognise(ctx, refs / "alex-lacamoire.png") == alex

    # switching back to the default is instant (its embeddings are kept) and works the same way
    page.use_default_model()
    wait_idle(page, qtbot)
    assert ctx.gallery.active_model().id == old.id and ctx.pipeline.embedder.dim == old.dim


@pytest.mark.parametrize("content, problem", [(b"", "empty"), (b"PK\x03\x04 this is no model" * 40, "")])
def test_a_bad_weights_file_changes_nothing(ctx, page, qtbot, tmp_path: Path, content: bytes, problem: str) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(content)
    before, embedder = ctx.gallery.active_model(), ctx.pipeline.embedder
    page.choose_model_file(bad)
    wait_idle(page, qtbot)
    qtbot.waitUntil(lambda: bool(errors(ctx)), timeout=5000)
    message = errors(ctx)[-1]
    assert message.startswith("Recognition model: Cannot load model") and str(bad) in message and problem in message
    assert ctx.gallery.active_model() == before and ctx.pipeline.embedder is embedder
    assert len(ctx.gallery.models()) == 1
    assert page.progress_dialog is None and page.model_file_button.isEnabled()


def test_false_marks_explain_the_policy_and_follow_the_gallery(ctx, page, refs: Path) -> None:
    group = page.threshold_group
    assert group.title() == "False marks"
    assert page.sessions_combo.currentData() == DEFAULT_SESSIONS == ctx.service.sessions_per_false_mark
    sentence = page.policy_label.text()
    assert "match confidence reaches 50" in sentence and "nobody enrolled yet" in sentence
    assert f"1 of {DEFAULT_SESSIONS:,} sessions" in sentence and "rises as people are enrolled" in sentence
    assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence
    empty = group.decision

    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")  # gallery_changed refreshes it
    assert "with 1 person enrolled" in page.policy_label.text()
    one = group.decision
    enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png")
    two = group.decision
    assert "with 2 people enrolled" in page.policy_label.text() and two.enrolled == 2
    details = page.decision_label.text()
    assert "2 people enrolled" in details and f"cosine {two.threshold:.4f}" in details
    assert "identity-disjoint photos" in details and two.source == "table"
    assert empty.threshold == one.threshold < two.threshold  # 0 people count as 1: the bar rises with the second
    assert page.plot.current == pytest.approx(two.threshold)


def test_the_operators_choice_moves_the_bar(ctx, page, refs: Path) -> None:
    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    page.sessions_combo.setCurrentIndex(SESSIONS_CHOICES.index(100))  # as the operator picks it
    assert ctx.service.sessions_per_false_mark == 100
    lenient = page.threshold_group.decision
    assert lenient.sessions_per_false_mark == 100 and "1 of 100 sessions" in page.policy_label.text()
    assert page.choose_sessions(10000)
    strict = page.threshold_group.decision
    assert strict.threshold > lenient.threshold and "1 of 10,000 sessions" in page.policy_label.text()
    assert page.sessions_combo.currentData() == 10000
    with Database(ctx.db_path) as db:  # stored: a fresh connection sees it
        assert read_sessions(db) == 10000
    assert not page.choose_sessions(5)
    assert "1 of N sessions" in errors(ctx)[-1] and page.sessions_combo.currentData() == 10000


def test_the_bar_set_by_hand_and_back_to_the_policy(ctx, page) -> None:
    policy = ctx.service.threshold_decision()
    assert not page.manual_check.isChecked() and page.threshold_group.manual_row.isHidden()
    page.manual_check.setChecked(True)  # shows the spin box; nothing is stored yet
    assert not page.threshold_group.manual_row.isHidden()
    assert page.threshold_spin.value() == pytest.approx(policy.threshold, abs=1e-3)
    assert ctx.gallery.active_model().threshold_origin == "default" and not page.use_policy_button.isEnabled()

    page.threshold_spin.setValue(0.512)
    page.threshold_apply.click()
    with Database(ctx.db_path) as db:  # a fresh connection sees it
        stored = Gallery(db).active_model()
    assert stored.threshold == pytest.approx(0.512) and stored.threshold_origin == "manual"
    decision = page.threshold_group.decision
    assert decision.source == "manual" and decision.threshold == pytest.approx(0.512)
    assert page.plot.current == pytest.approx(0.512) and page.use_policy_button.isEnabled()
    assert "set by hand (cosine 0.512)" in page.policy_label.text() and "set by hand" in page.decision_label.text()

    assert not page.apply_threshold(1.5)  # core refuses; the old value stays
    assert "between -1 and 1" in errors(ctx)[-1]
    assert ctx.gallery.active_model().threshold == pytest.approx(0.512)
    assert page.threshold_spin.value() == pytest.approx(0.512)

    page.use_policy_button.click()
    back = page.threshold_group.decision
    assert back.source == "table" and back.threshold == pytest.approx(policy.threshold)
    assert ctx.gallery.active_model().threshold_origin == "default"
    assert not page.manual_check.isChecked() and page.threshold_group.manual_row.isHidden()
    assert "match confidence reaches 50" in page.policy_label.text()

    assert page.apply_threshold(0.6) and page.manual_check.isChecked()  # unticking the box returns too
    page.manual_check.setChecked(False)
    assert page.threshold_group.decision.source == "table" and len(errors(ctx)) == 1


def test_calibration_curve_for_a_small_gallery(ctx, page, qtbot) -> None:
    orl = shared_path("faces", "orl")
    for person in ("s1", "s2", "s3"):
        enrol_photos(ctx, person, *(orl / person / f"{i}.pgm" for i in (1, 2, 3)))
    assert page.plot.isHidden()  # no room taken before there is a curve
    policy = ctx.service.threshold_decision()
    task = page.calibrate()
    assert task is not None
    wait_idle(page, qtbot)
    cal = page.calibration
    assert cal is not None and cal.genuine_pairs == 9 and cal.impostor_pairs == 27
    assert cal.target_far == pytest.approx(policy.per_comparison_far)  # the policy's target
    assert page.plot.has_curve and page.plot.suggested == pytest.approx(cal.threshold) and not page.plot.isHidden()
    assert page.plot.current == pytest.approx(policy.threshold)
    assert len(page.plot.thresholds) == len(page.plot.far) == len(page.plot.frr)
    assert np.all(np.diff(page.plot.far) <= 1e-12) and np.all(np.diff(page.plot.frr) >= -1e-12)
    note = page.calibration_note.text()
    assert "Suggested threshold" in note and "Too few to lower the bar" in note
    assert f"from {site_pairs_needed(policy.per_comparison_far):,} different-person pairs" in note
    assert "(it has 27)" in note and "sets it by hand" in note
    assert page.use_suggested_button.isEnabled()
    page.grab()  # paints the curve without error
    assert page.threshold_group.sizeHint().height() < 560  # fits a 1366x768 screen with the tabs around it

    assert page.use_suggested_threshold()
    stored = ctx.gallery.active_model()
    assert stored.threshold == pytest.approx(round(cal.threshold, 3)) and stored.threshold_origin == "manual"
    assert ctx.service.threshold_decision().source == "manual" and page.manual_check.isChecked()
    assert page.plot.current == pytest.approx(round(cal.threshold, 3))
    assert not errors(ctx)


def test_calibration_says_when_the_gallery_is_too_small(ctx, page, qtbot, refs: Path) -> None:
    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    page.calibrate()
    wait_idle(page, qtbot)
    assert page.calibration is None and not page.plot.has_curve
    assert "too small to calibrate" in page.calibration_note.text()
    assert "1 person and 1 sample" in page.plot.note and "at least two people" in page.plot.note
    assert not page.use_suggested_button.isEnabled()
    page.grab()


def saved(ctx) -> dict:
    return json.loads(Path(ctx.config_file).read_text(encoding="utf-8"))


def test_settings_are_saved_and_invalid_ones_keep_the_old(ctx, page, tmp_path: Path) -> None:
    clip = shared_path("video", "hamilton_clip.mp4")
    assert page.apply_source(str(clip), "every_frame")
    assert ctx.config.source == str(clip) and saved(ctx)["file_pace"] == "every_frame"
    assert page.apply_source("2")
    assert ctx.config.source == "2" and page.source_edit.text() == "2"

    assert not page.apply_source("   ")
    assert "source is empty" in errors(ctx)[-1]
    assert not page.apply_source(str(tmp_path / "missing.mp4"))
    assert "missing.mp4 does not exist" in errors(ctx)[-1]
    assert ctx.config.source == "2" and page.source_edit.text() == "2"

    assert page.apply_operator("Ada")
    assert saved(ctx)["operator"] == "Ada"
    assert page.apply_record_unknown(True)
    assert ctx.config.record_unknown and saved(ctx)["record_unknown"] is True
    page.record_unknown_check.setChecked(False)
    assert not ctx.config.record_unknown

    assert not page.apply_detector("yunet", str(tmp_path / "nope.onnx"))
    assert "nope.onnx does not exist" in errors(ctx)[-1] and ctx.config.detector == "mtcnn"
    assert page.detector_combo.currentData() == "mtcnn"

    a_file = tmp_path / "a file"
    a_file.write_text("x")
    assert not page.apply_data_folder(a_file)
    assert "is a file, not a folder" in errors(ctx)[-1]


def test_device_choices_follow_cuda(ctx, page) -> None:
    offered = [page.device_combo.itemData(i) for i in range(page.device_combo.count())]
    assert offered == (["cpu", "cuda", "auto"] if torch.cuda.is_available() else ["cpu"])
    if not torch.cuda.is_available():
        assert not page.apply_device("cuda")
        assert "CUDA" in errors(ctx)[-1] and ctx.config.device == "cpu"


def test_yunet_and_data_folder_reload_the_engine(ctx, page, qtbot, tmp_path: Path) -> None:
    onnx = shared_path("models", "face_detection_yunet_2023mar.onnx")
    with qtbot.waitSignal(ctx.engine_changed, timeout=TIMEOUT, check_params_cb=lambda: ctx.engine_ready):
        assert page.choose_yunet_file(onnx)
    assert ctx.config.detector == f"yunet:{onnx}" and ctx.pipeline.detector.name.lower().startswith("yunet")
    assert page.detector_combo.currentData() == "yunet" and page.yunet_edit.isEnabled()

    folder = tmp_path / "elsewhere"
    with qtbot.waitSignal(ctx.engine_changed, timeout=TIMEOUT, check_params_cb=lambda: ctx.engine_ready):
        assert page.apply_data_folder(folder)
    assert ctx.db_path == folder / "rollcall.db" and ctx.db_path.exists()
    assert page.data_folder_edit.text() == str(folder)
    assert ctx.gallery.active_model() is not None  # the new gallery got the default model
    assert not errors(ctx)


def test_cancelling_the_model_switch_keeps_the_old_model(ctx, page, qtbot, refs: Path) -> None:
    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    before, embedder = ctx.gallery.active_model(), ctx.pipeline.embedder
    task = page.choose_model_file(shared_path("models", "edgeface_xxs_q.pt"))
    cancel_button = page.progress_dialog.findChild(QPushButton)
    assert cancel_button is not None and cancel_button.text() == "Cancel"
    with qtbot.waitSignal(task.cancelled, timeout=30_000):
        cancel_button.click()
    wait_idle(page, qtbot)
    assert ctx.gallery.active_model() == before and ctx.pipeline.embedder is embedder
    assert page.progress_dialog is None and not errors(ctx)
    assert any(n.title == "Recognition model" and n.text == "cancelled" for n in ctx.notifier.history)


# ---------------------------------------------------------------------- small faces (super-resolution)

SMALL_FACE_SCALE = 0.1  # the Lin-Manuel Miranda photo at this scale: a face about 40 px wide


def dsr_checkpoint(path: Path) -> Path:
    """A tiny DSR written as the trainer writes its checkpoints (its tail is not zero: not plain bicubic)."""
    torch.manual_seed(0)
    model = DSRNet(channels=8, blocks=1, up_channels=4).eval()
    with torch.no_grad():
        model.tail.weight.normal_(0, 0.1)
    return save_atomic(make_checkpoint(model, step=3), path)


def reloaded(ctx, qtbot):
    """Waits until the models have been reloaded."""
    return qtbot.waitSignal(ctx.engine_changed, timeout=TIMEOUT, check_params_cb=lambda: ctx.engine_ready)


def small_face_photo(refs: Path) -> np.ndarray:
    image = read_image(refs / "lin-manuel-miranda.png")
    return cv2.resize(image, None, fx=SMALL_FACE_SCALE, fy=SMALL_FACE_SCALE, interpolation=cv2.INTER_AREA)


def upscale_calls(resolver, monkeypatch) -> list[int]:
    """Records how many crops each call of the resolver upscales (it still upscales them)."""
    calls: list[int] = []
    original = resolver.upscale
    monkeypatch.setattr(resolver, "upscale", lambda crops: calls.append(len(crops)) or original(crops))
    return calls


def test_a_dsr_checkpoint_super_resolves_small_faces(ctx, page, qtbot, refs: Path, tmp_path: Path,
                                                     monkeypatch) -> None:
    dsr = dsr_checkpoint(tmp_path / "dsr.pt")
    assert ctx.pipeline.resolver is None and page.chosen_route() is None and "Automatic" in page.sr_label.text()
    page.choose_route(True)
    page.sr_below_spin.setValue(64)
    page.sr_model_edit.setText(str(dsr))
    with reloaded(ctx, qtbot):
        page.sr_apply.click()

    assert ctx.config.sr_model == str(dsr) and ctx.config.sr_below_px == 64
    assert saved(ctx)["sr_model"] == str(dsr) and saved(ctx)["sr_below_px"] == 64
    pipeline = ctx.pipeline
    assert isinstance(pipeline.resolver, SuperResolver) and pipeline.resolver.source == str(dsr)
    assert pipeline.resolver.model.arch == "dsr" and pipeline.sr_below_px == 64
    label = page.sr_label.text()
    assert "<b>dsr</b>" in label and "(dsr, 28 → 112 px)" in label and "64 px" in label
    assert not errors(ctx)

    # a small face goes through the DSR before it is embedded; a large one does not
    calls = upscale_calls(pipeline.resolver, monkeypatch)
    faces = pipeline.process(small_face_photo(refs)).faces
    assert len(faces) == 1 and face_width(faces[0].landmarks) < 64
    assert calls == [1] and faces[0].embedding is not None
    assert np.linalg.norm(faces[0].embedding) == pytest.approx(1.0, abs=1e-4)
    assert all(face_width(f.landmarks) >= 64 for f in pipeline.process(read_image(refs / "alex-lacamoire.png")).faces)
    assert calls == [1]

    # a recognition-model switch keeps the small-face route
    page.use_default_model()
    wait_idle(page, qtbot)
    assert ctx.pipeline is not pipeline and ctx.pipeline.resolver is pipeline.resolver
    assert ctx.pipeline.sr_below_px == 64

    # off again: the route is off, the model file is kept for next time
    with reloaded(ctx, qtbot):
        assert page.apply_small_faces(False, 64, str(dsr))
    assert ctx.pipeline.resolver is None and ctx.pipeline.sr_below_px == 0
    assert ctx.config.sr_below_px == 0 and ctx.config.sr_model == str(dsr)
    assert page.chosen_route() is False and page.sr_model_edit.text() == str(dsr)
    assert "Off" in page.sr_label.text() and not errors(ctx)

    # automatic: a DSR model is installed (chosen above), so the route is on at the default width
    with reloaded(ctx, qtbot):
        assert page.apply_small_faces(None, 64, str(dsr))
    assert ctx.config.sr_below_px is None and page.chosen_route() is None
    assert isinstance(ctx.pipeline.resolver, SuperResolver) and ctx.pipeline.sr_below_px == DEFAULT_SR_BELOW_PX


def test_an_empty_model_field_means_bicubic_upscaling(ctx, page, qtbot, refs: Path, monkeypatch) -> None:
    with reloaded(ctx, qtbot):
        assert page.apply_small_faces(True, 64, "  ")
    assert ctx.config.sr_model == "" and isinstance(ctx.pipeline.resolver, BicubicResolver)
    assert ctx.pipeline.sr_below_px == 64 and "Bicubic upscaling" in page.sr_label.text()
    calls = upscale_calls(ctx.pipeline.resolver, monkeypatch)
    assert len(ctx.pipeline.process(small_face_photo(refs)).faces) == 1 and calls == [1]
    assert not errors(ctx)


def not_a_dsr(path: Path) -> None:
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3)}, path)  # a plain state dict, no Rollcall checkpoint


def truncated(path: Path) -> None:
    whole = dsr_checkpoint(path.with_name("whole.pt")).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


@pytest.mark.parametrize("write, problem", [
    (lambda path: path.write_bytes(b""), "the file is empty"),
    (truncated, "(the file is truncated or corrupt|it is not a PyTorch model file)"),  # core's wording varies by cut
    (not_a_dsr, "it is not a Rollcall checkpoint"),
], ids=["empty", "truncated", "not-a-dsr"])
def test_a_broken_dsr_file_is_one_error_and_the_engine_keeps_working(ctx, page, qtbot, refs: Path,
                                                                     tmp_path: Path, write, problem: str) -> None:
    bad = tmp_path / "broken_dsr.pt"
    write(bad)
    with reloaded(ctx, qtbot):
        assert page.apply_small_faces(True, 64, str(bad))
    qtbot.waitUntil(lambda: bool(errors(ctx)), timeout=5000)
    qtbot.wait(50)  # nothing else arrives
    reported = errors(ctx)
    assert len(reported) == 1, reported
    assert re.match(f"Small faces: Cannot load model {re.escape(str(bad))}: {problem}", reported[0]), reported
    assert "Settings > Small faces" in reported[0] and "bicubically" in reported[0]
    assert isinstance(ctx.pipeline.resolver, BicubicResolver) and ctx.pipeline.sr_below_px == 64
    faces = ctx.pipeline.process(small_face_photo(refs)).faces  # the engine still recognises, small faces too
    assert len(faces) == 1 and faces[0].embedding is not None
    assert "not in use" in page.sr_label.text() and str(bad) in page.sr_label.text()


def test_a_missing_dsr_file_is_refused_and_nothing_changes(ctx, page, tmp_path: Path) -> None:
    pipeline = ctx.pipeline
    assert not page.apply_small_faces(True, 40, str(tmp_path / "gone.pt"))
    assert "gone.pt does not exist" in errors(ctx)[-1] and len(errors(ctx)) == 1
    assert ctx.config.sr_below_px is None and ctx.config.sr_model == ""
    assert ctx.pipeline is pipeline and page.chosen_route() is None and page.sr_model_edit.text() == ""


def test_settings_naming_a_missing_dsr_file_still_load_the_engine(make_ctx, qtbot, refs: Path, tmp_path: Path) -> None:
    gone = tmp_path / "deleted" / "best.pt"
    ctx = make_ctx(sr_model=str(gone), sr_below_px=48)  # as if desktop.json named a file since deleted
    with reloaded(ctx, qtbot):
        ctx.load_engine()
    qtbot.waitUntil(lambda: bool(errors(ctx)), timeout=5000)
    reported = errors(ctx)
    assert len(reported) == 1 and str(gone) in reported[0] and "does not exist" in reported[0], reported
    assert isinstance(ctx.pipeline.resolver, BicubicResolver) and ctx.pipeline.sr_below_px == 48
    assert ctx.resolver_error and str(gone) in ctx.resolver_error
    assert len(ctx.pipeline.process(small_face_photo(refs)).faces) == 1
