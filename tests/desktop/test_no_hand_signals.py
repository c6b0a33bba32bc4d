"""The app's change signals come from the service's reports only: no code under desktop/ but the context's
bridge emits gallery_changed / attendance_changed / engine_changed / config_changed, builds its own
Gallery or Attendance, or writes through a store behind the service's back; and a write made on a page
reaches the other pages' tables through the bridge."""

from __future__ import annotations

import ast
from pathlib import Path

from desktop.pages.attendance_page import AttendancePage
from desktop.pages.live_page import LivePage
from desktop.pages.people_page import PeoplePage
from desktop.tables.people_table import NAME_COL
from tests.conftest import REPO
from tests.desktop.test_marks_table import add_people

SIGNALS = {"gallery_changed", "attendance_changed", "engine_changed", "config_changed"}
STORES = {"Gallery", "Attendance"}  # the service owns them
STORE_WRITES = {  # methods of core's Gallery and Attendance that write (the service's operations wrap them)
    "register_model", "set_threshold", "activate_model", "embed_samples", "switch_model", "add_person",
    "add_samples", "remove_sample", "update_person", "delete_person", "start_session", "stop_session",
    "open_or_start", "mark", "manual_mark", "unmark", "record_unknown", "purge_unknown",
}
DB_WRITES = {"transaction", "set_setting", "execute"}  # on a context's or service's Database
STORE_OWNERS = {"ctx", "service", "worker"}  # ctx.gallery, ctx.service.attendance, worker.gallery (not a page's)
ALLOWED = {Path("desktop/context.py")}  # the bridge


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def bypasses(root: Path, allowed: set[Path] = ALLOWED) -> list[str]:
    """'path:line: code' for every hand emission of a change signal (a call of, or a reference to, its
    `emit`), every Gallery(...) / Attendance(...) / open_database() and every write through the gallery
    or attendance store of a context or service, in the .py files under root/desktop outside `allowed`
    (relative to root)."""
    found = []
    for path in sorted((root / "desktop").rglob("*.py")):
        relative = path.relative_to(root)
        if relative in allowed:
            continue
        in_file = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Attribute):
                owner = node.value
                bad = (node.attr == "emit" and _name(owner) in SIGNALS) or node.attr == "open_database" or (
                    node.attr in STORE_WRITES and isinstance(owner, ast.Attribute)
                    and owner.attr in ("gallery", "attendance") and _name(owner.value) in STORE_OWNERS) or (
                    node.attr in DB_WRITES and isinstance(owner, ast.Attribute) and owner.attr == "db"
                    and _name(owner.value) in STORE_OWNERS)
            elif isinstance(node, ast.Call):
                bad = isinstance(node.func, ast.Name) and node.func.id in STORES
            else:
                continue
            if bad:
                in_file.append((node.lineno, ast.unparse(node)))
        found += [f"{relative.as_posix()}:{line}: {code}" for line, code in sorted(in_file)]
    return found


def test_only_the_bridge_emits_the_change_signals_and_writes_go_through_the_service() -> None:
    assert bypasses(REPO) == [], ("emit these signals from the service's reports (desktop/context.py's bridge) "
                                  "and write through ctx.service's operations")


def test_the_scanner_finds_planted_bypasses(tmp_path: Path) -> None:
    pages = tmp_path / "desktop" / "pages"
    pages.mkdir(parents=True)
    (tmp_path / "desktop" / "context.py").write_text("ctx.gallery_changed.emit()\n", encoding="utf-8")
    (pages / "fine.py").write_text(
        "self.state_changed.emit(1)\nctx.gallery_changed.connect(refresh)\nctx.service.start_session('A')\n"
        "ctx.service.gallery.people()\nwindow.attendance.manual_mark(1, 'late')\n", encoding="utf-8")
    (pages / "bad.py").write_text(
        "def done():\n"
        "    self.ctx.attendance_changed.emit()\n"
        "task.succeeded.connect(ctx.engine_changed.emit)\n"
        "gallery = Gallery(db)\n"
        "ctx.service.attendance.manual_mark(1, 2, operator='a', reason='b')\n"
        "with ctx.open_database() as db: pass\n"
        "with self.ctx.db.transaction(): pass\n", encoding="utf-8")
    assert bypasses(tmp_path) == [
        "desktop/pages/bad.py:2: self.ctx.attendance_changed.emit",
        "desktop/pages/bad.py:3: ctx.engine_changed.emit",
        "desktop/pages/bad.py:4: Gallery(db)",
        "desktop/pages/bad.py:5: ctx.service.attendance.manual_mark",
        "desktop/pages/bad.py:6: ctx.open_database",
        "desktop/pages/bad.py:7: self.ctx.db.transaction",
    ]


def rename_on_a_worker(ctx, qtbot, person_id: int, name: str) -> None:
    """A write through the service on a worker thread (its own connection), as background tasks do."""
    def work(control):
        with ctx.service.connect() as service:
            service.update_person(person_id, name=name)

    task = ctx.tasks.run("Rename", work)
    qtbot.waitUntil(lambda: task.settled, timeout=20_000)
    assert task.error is None


def test_a_write_on_one_page_refreshes_the_others_through_the_bridge(ctx, qtbot) -> None:
    lin, alex = add_people(ctx, "Lin-Manuel Miranda", "Alex Lacamoire")
    people, attendance, live = PeoplePage(ctx), AttendancePage(ctx), LivePage(ctx)
    for page in (people, attendance, live):
        qtbot.addWidget(page)
    try:
        live.start_session("Rehearsal")  # the Attendance tab's list follows
        session = ctx.attendance.find_session("Rehearsal")
        assert live.current_session_id() == session.id and attendance.select_session(session.id)
        assert attendance.manual_mark(lin, "signed the sheet") is not None  # the Live tab's list follows
        assert [live.marks_model.index(r).data().split("\n")[0] for r in range(live.marks_model.rowCount())] \
            == ["Lin-Manuel Miranda"]

        people.select_person(lin)
        rename_on_a_worker(ctx, qtbot, lin, "Lin Miranda")  # the report is queued to the GUI thread
        assert people.model.index(people.model.row_of(lin), NAME_COL).data() == "Lin Miranda"
        assert [m.person_name for m in attendance.marks_model.marks] == ["Lin Miranda"]
        assert live.marks_model.index(0).data().startswith("Lin Miranda\n")

        ctx._unsubscribe()  # without the bridge, nothing refreshes: no page announced the change itself
        rename_on_a_worker(ctx, qtbot, alex, "Alex L.")
        assert ctx.gallery.person(alex).name == "Alex L."
        assert people.model.index(people.model.row_of(alex), NAME_COL).data() == "Alex Lacamoire"
    finally:
        live.shutdown()
        people.shutdown()
