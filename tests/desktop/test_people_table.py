"""The People table model: rows re-read from core, search, thumbnails decoded lazily and cached."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap

from desktop.tables.people_table import (
    EXTERNAL_ID_COL, GROUP_COL, NAME_COL, SAMPLES_COL, THUMB_COL, PeopleTableModel,
)
from tests.conftest import shared_path
from tests.desktop.conftest import enrol_photos


def _names(model: PeopleTableModel) -> list[str]:
    return [model.index(r, NAME_COL).data() for r in range(model.rowCount())]


def _two_people(ctx) -> tuple[int, int]:
    refs = shared_path("video", "hamilton_refs")
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    alex = enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png", refs / "alex-lacamoire.png")
    ctx.gallery.update_person(alex, external_id="AL-7", groups=("Band",))
    ctx.gallery_changed.emit()
    return lin, alex


def test_rows_follow_the_gallery_and_show_each_column(ctx) -> None:
    model = PeopleTableModel(ctx)
    assert model.rowCount() == 0 and model.columnCount() == 6
    _, alex = _two_people(ctx)  # gallery_changed refreshes the model
    assert _names(model) == ["Alex Lacamoire", "Lin-Manuel Miranda"]  # sorted by name
    assert model.person_at(0).id == alex and model.person_at(5) is None
    assert model.index(0, EXTERNAL_ID_COL).data() == "AL-7"
    assert model.index(0, GROUP_COL).data() == "Band"
    assert model.index(0, SAMPLES_COL).data() == 2 and model.index(1, SAMPLES_COL).data() == 1
    assert model.index(1, EXTERNAL_ID_COL).data() == ""
    assert model.headerData(NAME_COL, Qt.Orientation.Horizontal) == "Name"

    ctx.gallery.delete_person(alex)
    ctx.gallery_changed.emit()
    assert _names(model) == ["Lin-Manuel Miranda"]


def test_search_filters_by_name_external_id_and_group(ctx) -> None:
    _two_people(ctx)
    model = PeopleTableModel(ctx)
    model.set_search("lin-manuel")
    assert _names(model) == ["Lin-Manuel Miranda"]
    model.set_search("AL-7")
    assert _names(model) == ["Alex Lacamoire"]
    model.set_search("band ")
    assert _names(model) == ["Alex Lacamoire"]
    model.set_search("nobody")
    assert model.rowCount() == 0
    ctx.gallery_changed.emit()  # a refresh keeps the search
    assert model.rowCount() == 0
    model.set_search("")
    assert model.rowCount() == 2


def test_thumbnails_are_the_first_sample_decoded_once(ctx) -> None:
    _two_people(ctx)
    model = PeopleTableModel(ctx)
    assert model.thumbnails_decoded == 0  # nothing decoded until a view asks
    pixmap = model.index(0, THUMB_COL).data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(pixmap, QPixmap) and not pixmap.isNull() and max(pixmap.width(), pixmap.height()) == 48
    model.index(0, THUMB_COL).data(Qt.ItemDataRole.DecorationRole)
    assert model.thumbnails_decoded == 1  # cached
    assert model.index(0, NAME_COL).data(Qt.ItemDataRole.DecorationRole) is None
    ctx.gallery_changed.emit()  # unchanged people keep their cached thumbnail
    model.index(0, THUMB_COL).data(Qt.ItemDataRole.DecorationRole)
    assert model.thumbnails_decoded == 1
