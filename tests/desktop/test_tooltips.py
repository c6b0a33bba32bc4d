"""Every control on the main pages carries a tooltip that says what it does (issue 18), except the few
whose text says it all."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox,
                               QLineEdit, QScrollBar, QTabBar, QWidget)

from desktop.pages.attendance_page import AttendancePage
from desktop.pages.live_page import LivePage
from desktop.pages.people_page import PeoplePage
from desktop.pages.settings_page import SettingsPage
from desktop.pages.training_page import TrainingPage

# Buttons whose text is the whole story: the standard dialog words, which every operator knows and whose
# tooltip would only repeat them ('&' mnemonics and a trailing '…' are stripped first). A picker button
# (Browse…, File…) is not listed: its tooltip says what it picks.
SELF_EXPLANATORY = {"ok", "cancel", "close", "yes", "no", "back", "next", "finish"}


def _is_internal(widget: QWidget) -> bool:
    """Qt's own parts: the line edit of a combo or spin box, a line edit's clear button, tab bar scroll
    arrows, scroll bar and table corner buttons; none is a control the page made."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, (QComboBox, QAbstractSpinBox, QLineEdit, QTabBar, QScrollBar,
                               QAbstractItemView)):
            return True
        parent = parent.parentWidget()
    return False


def _offenders(page: QWidget) -> tuple[int, list[str]]:
    """(how many controls were checked, those without a tooltip as 'Class name-or-text')."""
    checked, found = 0, []
    for kind in (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit):
        for widget in page.findChildren(kind):
            if _is_internal(widget):
                continue
            checked += 1
            if widget.toolTip().strip():
                continue
            if isinstance(widget, QAbstractButton):
                text = widget.text().replace("&", "").strip()
            else:  # a line edit's placeholder helps find it
                text = widget.placeholderText() if isinstance(widget, QLineEdit) else ""
            if text.lower().rstrip(".…") in SELF_EXPLANATORY:
                continue
            found.append(f"{type(widget).__name__} {widget.objectName() or text or '(unnamed)'!r}")
    return checked, sorted(set(found))


@pytest.mark.parametrize("page_class", [LivePage, PeoplePage, AttendancePage, SettingsPage, TrainingPage],
                         ids=lambda c: c.__name__)
def test_every_control_on_the_page_has_a_tooltip(ctx, qtbot, page_class) -> None:
    page = page_class(ctx)
    qtbot.addWidget(page)
    try:
        checked, missing = _offenders(page)
    finally:
        if hasattr(page, "shutdown"):
            page.shutdown()
    assert checked >= 5  # the walk found the page's controls
    assert not missing, f"{page_class.__name__}: controls without a tooltip: {missing}"
