"""Groups of people (a class, a team, a shift): a person may be in several. A session of a group
expects its members (core.storage.schema keeps an open session's list in step with the group)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from core.gallery.records import GalleryError, NotFoundError, clean_name, from_row, now_iso, rows
from core.storage.db import Database

GROUP_SEPARATOR = ";"  # between group names in one cell of a class list or one text field


def groups_sql(person_column: str) -> str:
    """A subquery giving the person's group names, sorted, joined by U+001F (read back with `read_groups`)."""
    return ("(SELECT group_concat(name, char(31)) FROM (SELECT g.name FROM group_members gm JOIN groups g"
            f" ON g.id = gm.group_id WHERE gm.person_id = {person_column} ORDER BY g.name COLLATE NOCASE))")


def read_groups(text: str | None) -> tuple[str, ...]:
    return tuple(text.split("\x1f")) if text else ()


@dataclass(frozen=True)
class Group:
    id: int
    name: str
    created_at: str
    n_members: int


_GROUP_SQL = ("SELECT g.id, g.name, g.created_at, COUNT(m.person_id) AS n_members FROM groups g"
              " LEFT JOIN group_members m ON m.group_id = g.id")


def split_groups(text: str | None) -> list[str]:
    """Group names from one text field ("7B; Choir"), each cleaned, duplicates dropped (case-insensitive)."""
    seen: dict[str, str] = {}
    for part in (text or "").split(GROUP_SEPARATOR):
        name = clean_name(part, "a group", required=False)
        if name:
            seen.setdefault(name.casefold(), name)
    return list(seen.values())


class Groups:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ reading

    def all(self) -> list[Group]:
        return [from_row(Group, r) for r in rows(self.db, _GROUP_SQL + " GROUP BY g.id ORDER BY g.name COLLATE NOCASE")]

    def get(self, group_id: int) -> Group:
        found = rows(self.db, _GROUP_SQL + " WHERE g.id = ? GROUP BY g.id", (group_id,))
        if not found:
            raise NotFoundError(f"no group with id {group_id} in {self.db.label} (deleted? refresh the list)")
        return from_row(Group, found[0])

    def find(self, name: str) -> Group | None:
        found = rows(self.db, _GROUP_SQL + " WHERE g.name = ? GROUP BY g.id", (clean_name(name, "a group"),))
        return from_row(Group, found[0]) if found else None

    def named(self, name: str) -> Group:
        group = self.find(name)
        if group is None:
            raise NotFoundError(f"there is no group called '{name}' (create it first, or import a class list)")
        return group

    def members(self, group_id: int) -> list[int]:
        """The person ids of the group's members."""
        return [r["person_id"] for r in rows(self.db, "SELECT person_id FROM group_members WHERE group_id = ?"
                                             " ORDER BY person_id", (group_id,))]

    # ------------------------------------------------------------------ writing

    def create(self, name: str) -> Group:
        name = clean_name(name, "a group")
        if self.find(name) is not None:
            raise GalleryError(f"there is already a group called '{name}'")
        with self.db.transaction() as conn:
            group_id = conn.execute("INSERT INTO groups(name, created_at) VALUES (?, ?)", (name, now_iso())).lastrowid
        return self.get(group_id)

    def rename(self, group_id: int, name: str) -> Group:
        name = clean_name(name, "a group")
        self.get(group_id)
        try:
            with self.db.transaction() as conn:
                conn.execute("UPDATE groups SET name = ? WHERE id = ?", (name, group_id))
        except sqlite3.IntegrityError:
            raise GalleryError(f"there is already a group called '{name}'") from None
        return self.get(group_id)

    def delete(self, group_id: int) -> None:
        """Delete a group (its members stay enrolled). Its past sessions keep their register."""
        group = self.get(group_id)
        open_ = rows(self.db, "SELECT name FROM sessions WHERE group_id = ? AND ended_at IS NULL", (group_id,))
        if open_:
            raise GalleryError(f"the group '{group.name}' has an open session ('{open_[0]['name']}'); end it first")
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM groups WHERE id = ?", (group_id,))

    def add_members(self, group_id: int, person_ids: Iterable[int]) -> int:
        """Add people to a group; how many were not members yet."""
        self.get(group_id)
        with self.db.transaction() as conn:
            return sum(conn.execute("INSERT OR IGNORE INTO group_members(group_id, person_id) VALUES (?, ?)",
                                    (group_id, pid)).rowcount for pid in person_ids)

    def remove_members(self, group_id: int, person_ids: Iterable[int]) -> int:
        self.get(group_id)
        with self.db.transaction() as conn:
            return sum(conn.execute("DELETE FROM group_members WHERE group_id = ? AND person_id = ?",
                                    (group_id, pid)).rowcount for pid in person_ids)

    def set_person_groups(self, person_id: int, names: Iterable[str]) -> None:
        """Make the person a member of exactly these groups (created when new)."""
        with self.db.transaction() as conn:
            write_person_groups(conn, person_id, names, replace=True)


def write_person_groups(conn: sqlite3.Connection, person_id: int, names: Iterable[str], *, replace: bool) -> None:
    """Inside the caller's transaction: put the person in these groups (created when new); `replace`
    also takes them out of every other group."""
    wanted: list[int] = []
    for name in names:
        name = clean_name(name, "a group")
        conn.execute("INSERT OR IGNORE INTO groups(name, created_at) VALUES (?, ?)", (name, now_iso()))
        wanted.append(conn.execute("SELECT id FROM groups WHERE name = ?", (name,)).fetchone()[0])
    if replace:
        held = [r[0] for r in conn.execute("SELECT group_id FROM group_members WHERE person_id = ?", (person_id,))]
        for gid in set(held) - set(wanted):
            conn.execute("DELETE FROM group_members WHERE group_id = ? AND person_id = ?", (gid, person_id))
    for gid in wanted:
        conn.execute("INSERT OR IGNORE INTO group_members(group_id, person_id) VALUES (?, ?)", (gid, person_id))
