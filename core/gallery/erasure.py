"""Erasing a person everywhere: their samples, embeddings and templates (as deleting does), the evidence
crops of their marks, and, when chosen, the marks themselves with their place in session lists and the
name in earlier audit entries. The erasure is audited by person id and counts, never by name."""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.gallery.records import MAX_NAME_CHARS, clean_text, get_row, now_iso, rows
from core.storage.db import Database


@dataclass(frozen=True)
class Erasure:
    person_id: int
    samples: int  # stored faces deleted (their embeddings and templates with them)
    evidence: int  # evidence crops removed from marks
    marks: int  # marks deleted (0 when the marks were kept)


def erase_person(db: Database, person_id: int, *, erase_marks: bool = False, operator: str = "") -> Erasure:
    """In one transaction. Kept marks keep the name (the attendance record) but lose their face crop."""
    get_row(db, "people", person_id, "person")
    who = clean_text(operator, "the operator's name", max_chars=MAX_NAME_CHARS)
    samples = rows(db, "SELECT COUNT(*) AS n FROM samples WHERE person_id = ?", (person_id,))[0]["n"]
    with db.transaction() as conn:
        evidence = conn.execute("UPDATE marks SET evidence_jpeg = NULL WHERE person_id = ?"
                                " AND evidence_jpeg IS NOT NULL", (person_id,)).rowcount
        marks = 0
        if erase_marks:
            marks = conn.execute("DELETE FROM marks WHERE person_id = ?", (person_id,)).rowcount
            conn.execute("DELETE FROM session_expected WHERE person_id = ?", (person_id,))
            conn.execute("UPDATE audit SET person_name = '' WHERE person_id = ?", (person_id,))
        conn.execute("DELETE FROM people WHERE id = ?", (person_id,))  # samples, embeddings, templates cascade
        erasure = Erasure(person_id, samples, evidence, marks)
        conn.execute("INSERT INTO audit(at, operator, action, person_id, person_name, reason, details)"
                     " VALUES (?, ?, 'erase_person', ?, '', '', ?)",
                     (now_iso(), who, person_id, json.dumps({"samples": samples, "evidence": evidence,
                                                              "marks": marks, "erase_marks": erase_marks})))
    return erasure
