"""The sessions and marks table models: rows come from core, filters narrow them, refresh follows
the change signals."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from core.gallery.faces import FACE_SIZE, FaceSample

from desktop.tables.marks_table import (
    COLUMNS, CONFIDENCE_COL, KIND_COL, OPERATOR_COL, PERSON_COL, REASON_COL, MarksTableModel,
)
from desktop.tables.sessions_table import ENDED_COL, MARKED_COL, NAME_COL, SessionsTableModel


def add_people(ctx, *names: str) -> list[int]:
    """People added straight through core with a placeholder face: attendance needs people to
    exist, not to be recognisable (much faster than enrolling photos)."""
    model = ctx.gallery.active_model()
    rng = np.random.default_rng(0)
    ids = []
    for name in names:
        sample = FaceSample(np.zeros((FACE_SIZE, FACE_SIZE, 3), np.uint8), np.zeros((5, 2), np.float32),
                            face_size=100.0, sharpness=1.0, yaw=0.0, det_score=0.99, source="test")
        ids.append(ctx.gallery.add_person(name, [sample], rng.normal(size=(1, model.dim)), model).id)
    ctx.gallery_changed.emit()
    return ids


def people(ctx) -> tuple[int, int]:
    lin, alex = add_people(ctx, "Lin-Manuel Miranda", "Alex Lacamoire")
    return lin, alex


def cell(model, row: int, col: int):
    return model.index(row, col).data(Qt.ItemDataRole.DisplayRole)


def test_sessions_table_shows_sessions_and_counts(ctx) -> None:
    lin, alex = people(ctx)
    model = SessionsTableModel(ctx)
    assert model.rowCount() == 0
    first = ctx.attendance.start_session("Maths", ctx.service.create_group("2B").id)
    second = ctx.attendance.start_session("Physics")
    ctx.attendance.mark(first.id, lin, "Lin-Manuel Miranda", score=0.9)
    ctx.attendance.mark(first.id, alex, "Alex Lacamoire", score=0.8)
    ctx.attendance.stop_session(first.id)
    ctx.attendance_changed.emit()
    assert model.rowCount() == 2
    rows = {cell(model, r, NAME_COL): r for r in range(2)}
    assert cell(model, rows["Maths"], MARKED_COL) == 2
    assert cell(model, rows["Physics"], MARKED_COL) == 0
    assert cell(model, rows["Physics"], ENDED_COL) == "open"
    assert cell(model, rows["Maths"], ENDED_COL) != "open"
    assert model.session_at(model.row_of(second.id)).name == "Physics"
    assert model.session_at(5) is None


def test_marks_table_filters_narrow_the_rows(ctx) -> None:
    lin, alex = people(ctx)
    model = MarksTableModel(ctx)
    a = ctx.attendance.start_session("Morning")
    b = ctx.attendance.start_session("Evening")
    ctx.attendance.mark(a.id, lin, "Lin-Manuel Miranda", score=0.91, confidence=74, source="camera 0")
    ctx.attendance.manual_mark(a.id, alex, "Alex Lacamoire", operator="tester", reason="camera missed him")
    ctx.attendance.mark(b.id, lin, "Lin-Manuel Miranda", score=0.88)  # made before confidences were kept
    ctx.attendance_changed.emit()
    assert model.rowCount() == 3

    model.set_filters(session_id=a.id)
    assert [cell(model, r, PERSON_COL) for r in range(model.rowCount())] == ["Lin-Manuel Miranda", "Alex Lacamoire"]
    assert cell(model, 0, CONFIDENCE_COL) == "74" and cell(model, 0, KIND_COL) == "automatic"
    assert cell(model, 1, CONFIDENCE_COL) == "manual" and cell(model, 1, KIND_COL) == "manual"
    assert cell(model, 1, OPERATOR_COL) == "tester" and cell(model, 1, REASON_COL) == "camera missed him"

    model.set_filters(person_id=lin)
    assert {model.mark_at(r).session_id for r in range(model.rowCount())} == {a.id, b.id}
    model.set_filters(manual=True)
    assert [m.person_id for m in model.marks] == [alex]
    model.set_filters(manual=False, session_id=b.id)
    assert [m.person_id for m in model.marks] == [lin]
    assert cell(model, 0, CONFIDENCE_COL) == ""  # an older mark has no confidence, and its cosine is not shown
    model.set_filters(start="2999-01-01")
    assert model.rowCount() == 0
    model.set_filters(end="2000-01-01")
    assert model.rowCount() == 0
    model.set_filters()
    assert model.rowCount() == 3
    assert model.mark_at(3) is None


def test_marks_table_follows_renames(ctx) -> None:
    lin, _ = people(ctx)
    model = MarksTableModel(ctx)
    session = ctx.attendance.start_session("Rehearsal")
    ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.9)
    ctx.attendance_changed.emit()
    ctx.gallery.update_person(lin, name="Lin Miranda")
    ctx.gallery_changed.emit()
    assert cell(model, 0, PERSON_COL) == "Lin Miranda"


def test_marks_table_shows_the_confidence_never_the_raw_cosine(ctx) -> None:
    lin, _ = people(ctx)
    model = MarksTableModel(ctx)
    session = ctx.attendance.start_session("Rehearsal")
    ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.9371, confidence=66)
    ctx.attendance_changed.emit()
    assert COLUMNS[CONFIDENCE_COL] == "Confidence" and "Score" not in COLUMNS
    shown = [str(cell(model, 0, c)) for c in range(model.columnCount())]
    assert "66" in shown and not any("0.93" in text for text in shown)
    assert model.index(0, CONFIDENCE_COL).data(Qt.ItemDataRole.TextAlignmentRole) is not None  # a number column
