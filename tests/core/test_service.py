"""The application service: operations report what changed once, after commit; subscribers cannot break
them; one lazily built pipeline; the CLI goes through the service; a source runs through core.attendance.grabber."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.attendance.marks import Attendance
from core.storage.db import Database
from core.errors import ConfigError, RollcallError
from core.gallery.policy import DEFAULT_SESSIONS, family_default, site_pairs_needed
from core.gallery.store import GalleryError, NotFoundError
from core.attendance.recogniser import RecognitionSettings
from core.service import CalibrationError, Changes, EngineSettings, Rollcall, ServiceError
from core.service import engine as service_engine
from tests.conftest import shared_path
from tests.core.gallery_fixtures import synthetic_sample, tiny_embedder, unit


def _person(service: Rollcall, name: str = "Ada", samples: int = 2) -> int:
    """A person added straight through the gallery (setup, not the operation under test)."""
    gallery = service.gallery
    model = gallery.active_model() or gallery.activate_model(tiny_embedder())
    vectors = unit(np.random.default_rng(len(name)).normal(size=(samples, model.dim)))
    return gallery.add_person(name, [synthetic_sample(i) for i in range(samples)], vectors, model).id


def test_session_and_mark_operations_report_once_after_commit(service: Rollcall, reports: list[Changes]) -> None:
    seen_committed = []

    def check_on_another_connection(changes: Changes) -> None:
        with Database(service.path) as other:
            seen_committed.append([s.name for s in Attendance(other).sessions()])

    service.subscribe(check_on_another_connection)
    person = _person(service)
    session = service.start_session("Morning")
    assert reports == [Changes(sessions=True)]
    assert seen_committed == [["Morning"]]  # the subscriber ran after the commit

    service.manual_mark(session.id, person, operator="desk", reason="came late")
    service.unmark(session.id, person, operator="desk", reason="wrong person")
    assert reports[1:] == [Changes(marks=True), Changes(marks=True)]
    assert [a["action"] for a in service.attendance.audit_log(session.id)] == ["mark", "unmark"]

    assert service.open_or_start("Morning").id == session.id and len(reports) == 3  # nothing new
    service.stop_session(session.id)
    service.stop_session(session.id)  # already stopped: nothing changed, nothing said
    assert reports[3:] == [Changes(sessions=True)]


def test_people_operations_report_what_they_changed(service: Rollcall, reports: list[Changes]) -> None:
    person = _person(service, samples=3)
    session = service.start_session("Morning")
    service.manual_mark(session.id, person, operator="desk", reason="came late")
    reports.clear()
    service.update_person(person, notes="left-handed")
    service.update_person(person, name="Ada L.")  # the marks show the new name: marks changed too
    assert [m.person_name for m in service.attendance.marks(session.id)] == ["Ada L."]
    service.remove_sample(service.gallery.samples(person)[0].id)
    service.delete_person(person, erase_history=True, operator="desk")
    assert reports == [Changes(people=True), Changes(people=True, marks=True), Changes(samples=True),
                       Changes(people=True, samples=True, marks=True)]
    assert service.gallery.people() == []


def test_a_failed_operation_reports_nothing(service: Rollcall, reports: list[Changes]) -> None:
    person = _person(service)
    session = service.start_session("Morning")
    reports.clear()
    with pytest.raises(GalleryError, match="reason"):
        service.manual_mark(session.id, person, operator="desk", reason=" ")
    with pytest.raises(NotFoundError):
        service.stop_session(999)
    with pytest.raises(GalleryError, match="last sample"):
        service.remove_sample(service.gallery.samples(_person(service, "Bob", samples=1))[0].id)
    with pytest.raises(ConfigError):
        service.update_settings(min_face_size=3)
    assert reports == [] and service.attendance.marks(session.id) == []


def test_a_subscriber_that_raises_breaks_neither_the_operation_nor_the_others(
        service: Rollcall, reports: list[Changes], caplog: pytest.LogCaptureFixture) -> None:
    def broken(changes: Changes) -> None:
        raise RuntimeError("listener bug")

    service.subscribe(broken)
    later: list[Changes] = []
    unsubscribe = service.subscribe(later.append)
    with caplog.at_level(logging.ERROR):
        session = service.start_session("Evening")
    assert service.attendance.session(session.id).name == "Evening"
    assert reports == later == [Changes(sessions=True)]
    assert "listener bug" in caplog.text
    unsubscribe()
    service.stop_session(session.id)
    assert len(later) == 1 and len(reports) == 2


def test_a_batch_reports_once_with_everything_it_changed(service: Rollcall, reports: list[Changes]) -> None:
    with service.batch():
        session = service.start_session("A")
        service.manual_mark(session.id, _person(service), operator="desk", reason="x")
    assert reports == [Changes(sessions=True, marks=True)]


def test_calibrate_suggests_for_the_policy_and_apply_sets_the_threshold_by_hand(service: Rollcall,
                                                                                reports: list[Changes]) -> None:
    with pytest.raises(CalibrationError, match="no active model"):
        service.calibrate()
    for name in ("Ada", "Bo", "Cyril"):  # distinct name lengths: distinct random vectors
        _person(service, name, 3)
    policy = service.threshold_decision()
    assert policy.source == "model default" and policy.enrolled == 3
    model, cal = service.calibrate()  # the suggestion is for the policy's per-comparison FAR; nothing stored
    assert cal.target_far == pytest.approx(policy.per_comparison_far) and cal.impostor_pairs == 27
    assert model.threshold_origin == "default" and service.threshold_decision() is policy and not reports
    assert service.site_pairs_needed() == site_pairs_needed(policy.per_comparison_far) > cal.impostor_pairs
    for bad in (0.0, 1.5):
        with pytest.raises(CalibrationError, match="between 0 and 1"):
            service.calibrate(bad)

    model, cal = service.calibrate(0.05, apply=True)  # no longer a silent no-op: the policy honours it
    assert (model.threshold, model.threshold_origin) == (cal.threshold, "manual") and reports == [Changes(model=True)]
    manual = service.threshold_decision()
    assert manual.source == "manual" and manual.threshold == cal.threshold and "set by hand" in manual.reason

    record = service.use_policy_threshold()  # back to the policy, based on the model family's default
    assert record.threshold_origin == "default" and record.threshold == family_default(model)
    back = service.threshold_decision()
    assert back.source == "model default" and back.threshold == record.threshold != cal.threshold


def test_the_operators_choice_is_stored_and_reported(service: Rollcall, reports: list[Changes]) -> None:
    _person(service, "Ada", 2)
    assert service.sessions_per_false_mark == DEFAULT_SESSIONS
    decision = service.set_sessions_per_false_mark(100)
    assert service.sessions_per_false_mark == 100 == decision.sessions_per_false_mark
    assert decision.per_comparison_far == pytest.approx(1 / 100) and reports == [Changes(model=True)]
    with pytest.raises(RollcallError, match="1 of N sessions"):
        service.set_sessions_per_false_mark(50)
    assert service.sessions_per_false_mark == 100 and len(reports) == 1


def test_engine_settings_are_typed_frozen_and_reject_unknown_keys() -> None:
    settings = EngineSettings.from_dict({"detector": "mtcnn", "min_face_size": 24})
    assert settings.min_face_size == 24 and settings.device == "cpu"
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) detektor"):
        EngineSettings.from_dict({"detektor": "mtcnn"})
    with pytest.raises(ConfigError, match="'min_face_size' must be a int"):
        EngineSettings.from_dict({"min_face_size": "24"})
    with pytest.raises(ConfigError, match="between 12 and 200"):
        EngineSettings(sr_below_px=8)
    assert EngineSettings().sr_below_px is None  # automatic: on when a DSR is installed
    assert EngineSettings.from_dict({"sr_below_px": None}) == EngineSettings()
    assert EngineSettings.from_dict({"sr_below_px": 0}).sr_route_off
    for wrong in ("16", True, 16.0):
        with pytest.raises(ConfigError, match="'sr_below_px' must be a int"):
            EngineSettings.from_dict({"sr_below_px": wrong})
    with pytest.raises(AttributeError):
        settings.device = "cuda"  # type: ignore[misc]


def _counting_builder(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[EngineSettings]:
    builds: list[EngineSettings] = []

    def build(settings, gallery, *, default_model, problems):  # noqa: ANN001
        time.sleep(delay)
        builds.append(settings)
        return object()  # stands in for a FacePipeline

    monkeypatch.setattr(service_engine, "build_active_pipeline", build)
    return builds


def test_the_pipeline_is_built_once_for_all_threads_and_rebuilt_after_new_settings(
        service: Rollcall, reports: list[Changes], monkeypatch: pytest.MonkeyPatch) -> None:
    builds = _counting_builder(monkeypatch, delay=0.2)
    got = []

    def worker() -> None:
        with service.connect() as mine:  # a worker's own connection shares the engine
            got.append(mine.pipeline())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len({id(p) for p in got}) == 1 and service.current_pipeline is got[0]
    assert reports == [Changes(engine=True)]

    assert service.update_settings(sr_below_px=0)  # the small-face route turned off...
    assert not service.update_settings(sr_model="best.pt")  # ...so a DSR model changes no model
    assert service.update_settings(detector="yunet:face.onnx")
    assert reports[1:] == [Changes(settings=True, engine=True), Changes(settings=True),
                           Changes(settings=True, engine=True)]
    assert service.current_pipeline is None
    service.pipeline()
    assert [b.detector for b in builds] == ["mtcnn", "yunet:face.onnx"]


def test_an_in_memory_service_cannot_be_shared_with_a_worker() -> None:
    with Rollcall.open(":memory:") as service, pytest.raises(ServiceError, match="in-memory"):
        service.connect()


def test_the_cli_builds_its_pipeline_only_through_the_service(tmp_path: Path, monkeypatch, capsys) -> None:
    from core.cli import main

    def build(settings, gallery, *, default_model, problems):  # noqa: ANN001
        raise RollcallError(f"built by the service with {settings.detector}, {settings.min_face_size} px")

    monkeypatch.setattr(service_engine, "build_active_pipeline", build)
    db = str(tmp_path / "cli.db")
    photo = str(shared_path("faces", "misc", "obama.jpg"))
    assert main(["--db", db, "--min-face", "30", "identify", photo]) == 2
    assert "built by the service with mtcnn, 30 px" in capsys.readouterr().err
    clip = str(shared_path("video", "hamilton_clip.mp4"))
    assert main(["--db", db, "run", "--source", clip, "--session", "S"]) == 2
    assert "built by the service" in capsys.readouterr().err
    assert main(["--db", db, "enroll", "Ada", photo]) == 2
    assert "built by the service" in capsys.readouterr().err


@pytest.fixture(scope="module")
def default_pipeline():
    from core.vision.pipeline import build_pipeline

    return build_pipeline()


def test_run_source_marks_a_clip_through_the_grabber(tmp_path: Path, default_pipeline) -> None:
    with Rollcall.open(tmp_path / "live.db") as service:
        service.install_pipeline(default_pipeline)
        verdict = service.enroller().check_file(shared_path("video", "hamilton_refs", "lin-manuel-miranda.png"))
        assert verdict.ok, verdict.reason
        reports: list[Changes] = []
        service.subscribe(reports.append)
        service.enrol("Lin-Manuel Miranda", [verdict])
        assert reports == [Changes(people=True, samples=True)]
        session = service.start_session("Rehearsal")
        seen = []
        summary = service.run_source(shared_path("video", "hamilton_clip.mp4"), session.id, RecognitionSettings(),
                                     pace="every_frame", max_frames=10,
                                     on_report=lambda frame, report: seen.append((frame.index, report.new_marks)))
    assert [i for i, _ in seen] == list(range(10)) and summary.dropped == 0  # every frame, in order
    assert summary.frames == 10 and summary.how == "frame limit"
    assert [m.person_name for m in summary.marks] == ["Lin-Manuel Miranda"]
    assert sum(len(marks) for _, marks in seen) == 1
    assert Changes(marks=True) in reports[2:]


def test_run_source_says_why_a_source_cannot_be_opened(service: Rollcall, tmp_path: Path, monkeypatch) -> None:
    from core.attendance.sources import SourceError

    _counting_builder(monkeypatch)
    monkeypatch.setattr("core.service.running.Recogniser", lambda *a, **k: SimpleNamespace(close=lambda wait=False: None))
    with pytest.raises(SourceError, match="does not exist"):
        service.run_source(str(tmp_path / "nope.mp4"), None, pace="every_frame")


def _dsr_checkpoint(path: Path) -> Path:
    """A tiny DSR saved as the trainer saves its checkpoints."""
    import torch

    from core.vision.models.checkpoint import make_checkpoint, save_atomic
    from core.vision.models.dsr import DSRNet

    torch.manual_seed(0)
    return save_atomic(make_checkpoint(DSRNet(channels=8, blocks=1, up_channels=4).eval(), step=3), path)


def test_the_small_face_route_is_on_when_a_dsr_is_installed(tmp_path: Path) -> None:
    import torch

    from core.service.settings import DEFAULT_SR_BELOW_PX
    from core.vision.models.superres import SuperResolver

    models = tmp_path / "models"
    models.mkdir()
    torch.save({"weight": torch.zeros(3)}, models / "not-a-dsr.pt")  # other files there are no DSR
    (models / "junk.pt").write_bytes(b"not a model")
    auto, off = EngineSettings(), EngineSettings(sr_below_px=0)
    assert service_engine.effective_settings(auto, models).sr_below_px == 0  # nothing installed: off
    dsr = _dsr_checkpoint(models / "dsr.pt")  # as the data folder's models/ keeps it
    on = service_engine.effective_settings(auto, models)
    assert (on.sr_below_px, on.sr_model) == (DEFAULT_SR_BELOW_PX, str(dsr))
    assert service_engine.effective_settings(off, models) == off  # explicitly off stays off
    assert service_engine.effective_settings(EngineSettings(sr_below_px=20), models).sr_below_px == 20
    configured = service_engine.effective_settings(EngineSettings(sr_model=str(dsr)), tmp_path / "elsewhere")
    assert configured.sr_below_px == DEFAULT_SR_BELOW_PX  # a configured DSR counts as installed too

    embedder = tiny_embedder()
    with Rollcall.open(tmp_path / "rollcall.db") as service:  # its data folder holds models/dsr.pt
        pipeline = service.pipeline_for(embedder)
        assert pipeline.sr_below_px == DEFAULT_SR_BELOW_PX and isinstance(pipeline.resolver, SuperResolver)
        assert pipeline.has_dsr
        service.update_settings(sr_below_px=0)
        pipeline = service.pipeline_for(embedder)
        assert pipeline.sr_below_px == 0 and pipeline.resolver is None and not pipeline.has_dsr
    with Rollcall.open(tmp_path / "other" / "rollcall.db") as service:  # no DSR installed there
        assert service.pipeline_for(embedder).sr_below_px == 0
