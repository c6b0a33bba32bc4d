"""Fuzz cases for text input: settings (engine, desktop, trainer jobs; as dicts and as files), names and
the other text fields of people and sessions exported as a register (CSV and XLSX: no cell may become a
formula), and class lists (CSV and XLSX, damaged) previewed and imported."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from bench.fuzz_cases import FuzzEnv, damage_zip_entry, hostile_text, hostile_value, mutate_bytes

YAML_BOMB = ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
             "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n")


class FormulaCellError(AssertionError):
    """An export holds a cell that a spreadsheet would run as a formula (a finding, never refused)."""


def _damage_dict(rng: random.Random, data: dict, known_only: bool = False) -> str:
    """Hostile values for some keys, unknown keys added; says what."""
    done = []
    for key in rng.sample(sorted(data), k=min(len(data), rng.choice((1, 1, 2, 4)))):
        data[key] = hostile_value(rng)
        done.append(f"{key}={data[key]!r}"[:50])
    if not known_only and rng.random() < 0.25:
        key = hostile_text(rng, 30)
        data[key] = hostile_value(rng)
        done.append(f"unknown {key!r}"[:40])
    return ", ".join(done)


def config_case(rng: random.Random, env: FuzzEnv, folder: Path):  # noqa: ANN201
    """EngineSettings.from_dict, DesktopConfig.from_dict and load_config, trainer JobConfig.from_dict and
    trainer.config.load_config on a damaged YAML/JSON file."""
    import yaml

    from core.service.settings import EngineSettings
    from desktop.config import DesktopConfig, load_config as load_desktop
    from trainer.config import JOB_CONFIGS, load_config

    target = rng.choice(("engine", "desktop", "desktop-file", "trainer", "trainer-file", "trainer-file"))
    if target in ("engine", "desktop", "desktop-file"):
        cls = EngineSettings if target == "engine" else DesktopConfig
        data = cls().to_dict()
        label = f"{target}: " + _damage_dict(rng, data)
        if rng.random() < 0.05:
            data = hostile_value(rng)  # type: ignore[assignment]
            label = f"{target}: not a dict"
        if target != "desktop-file":
            return label, lambda: cls.from_dict(data)
        text = json.dumps(data).encode()
        if rng.random() < 0.3:
            how, text = mutate_bytes(rng, text)
            label += f", {how}"
        path = folder / "desktop.json"
        path.write_bytes(text)
        return label, lambda: load_desktop(path)
    job = rng.choice(sorted(JOB_CONFIGS))
    data = _valid_job_config(JOB_CONFIGS[job], folder).to_dict()
    label = f"{job}: " + _damage_dict(rng, data)
    if target == "trainer":
        return label, lambda: JOB_CONFIGS[job].from_dict(data)
    suffix = rng.choice((".yaml", ".json"))
    try:
        text = (json.dumps(data) if suffix == ".json" else yaml.safe_dump(data)).encode("utf-8", "surrogatepass")
    except (ValueError, yaml.YAMLError):
        text = b"{}"
    r = rng.random()
    if r < 0.3:
        how, text = mutate_bytes(rng, text)
        label += f", {how}"
    elif r < 0.35 and suffix == ".yaml":
        key = rng.choice(sorted(data))
        text = (YAML_BOMB + f"{key}: *f\n").encode()
        label = f"{job}: alias bomb in {key}"
    path = folder / f"config{suffix}"
    path.write_bytes(text)
    return f"{label} ({suffix})", lambda: load_config(job, path)


def _valid_job_config(cls: type, folder: Path):  # noqa: ANN202
    from core.errors import ConfigError

    try:
        return cls()
    except ConfigError:  # a job that needs its data folder
        return cls(data=str(folder))


def check_export(path: Path) -> None:
    """No cell of a CSV or XLSX export may be read as a formula by a spreadsheet."""
    from core.register.sheets import formula_like

    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if formula_like(cell) and not _number(cell):
                        raise FormulaCellError(f"CSV cell {cell[:40]!r} would run as a formula")
        return
    from openpyxl import load_workbook

    wb = load_workbook(path)
    try:
        for row in wb.worksheets[0].iter_rows():
            for cell in row:
                if cell.data_type == "f" or (formula_like(cell.value) and not cell.quotePrefix):
                    raise FormulaCellError(f"XLSX cell {cell.coordinate} {str(cell.value)[:40]!r} is a formula")
    finally:
        wb.close()


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def text_case(rng: random.Random, env: FuzzEnv, folder: Path):  # noqa: ANN201
    """clean_name, or a listed person, a session of their group, a manual mark or excuse, and the register
    exported as CSV and XLSX, with some of the text fields hostile."""
    from core.gallery.records import clean_name

    tag = rng.randrange(10**9)
    if rng.random() < 0.3:
        text = hostile_text(rng)
        required = rng.random() < 0.7
        return f"clean_name {text[:30]!r}", lambda: clean_name(text, required=required)
    fields = {"name": f"Person {tag}", "external_id": f"ID{tag}", "group": f"Group {tag}", "notes": "",
              "session": f"Session {tag}", "operator": "fuzz", "reason": "fuzzing"}
    hostile = rng.sample(sorted(fields), k=rng.choice((1, 2, 3)))
    for key in hostile:
        fields[key] = hostile_text(rng)
    action = rng.choice(("mark", "excuse", "none"))
    service = env.service

    def call() -> None:
        person = service.gallery.add_listed_person(fields["name"], external_id=fields["external_id"] or None,
                                                   groups=[fields["group"]], notes=fields["notes"])
        group = next(iter(person.groups), None)
        session = service.start_session(fields["session"], group)
        if action == "mark":
            service.manual_mark(session.id, person.id, operator=fields["operator"], reason=fields["reason"])
        elif action == "excuse" and group:
            service.excuse(session.id, person.id, operator=fields["operator"], reason=fields["reason"])
        for suffix in (".csv", ".xlsx"):
            _, path = service.export_register(folder / f"register{suffix}", session_id=session.id)
            check_export(path)

    return f"{action}, hostile {', '.join(hostile)}: " + repr({k: fields[k][:20] for k in hostile})[:120], call


ODD_PHOTOS = ("", "", "photos", "photos", "/", "/dev/zero", "/proc/self/fd", "..", "../../../../../etc", "missing",
              "a\x00b", "photos/../photos", "~", "C:\\photos", "\\\\server\\share")


def _roster_rows(rng: random.Random) -> list[list[str]]:
    header = ["name", "external_id", "group", "photos", "notes"]
    if rng.random() < 0.2:
        header = [rng.choice(("Name", " NAME ", "External ID", "groups", "Photo", "x", "", hostile_text(rng, 20)))
                  for _ in range(rng.randrange(0, 8))]
    rows = [header]
    for i in range(rng.choice((0, 1, 3, 10))):
        row = [f"Pupil {rng.randrange(10**6)}", f"X{rng.randrange(10**6)}", "7B; Choir", rng.choice(ODD_PHOTOS), ""]
        for j in rng.sample(range(5), k=rng.choice((0, 1, 2))):
            row[j] = hostile_text(rng, 400)
        rows.append(row[:rng.choice((5, 5, 5, 2, 7))] + ([hostile_text(rng, 30)] * 2 if rng.random() < 0.1 else []))
    return rows


def _csv_bytes(rng: random.Random, rows: list[list[str]]) -> tuple[str, bytes]:
    out = io.StringIO()
    delimiter = rng.choice((",", ";", "\t"))
    csv.writer(out, delimiter=delimiter).writerows(rows)
    text = out.getvalue()
    special = rng.random()
    if special < 0.04:
        text = "name\n" + "a\n" * 20_005
    elif special < 0.07:
        text = "name,notes\nx," + "y" * 200_000 + "\n"
    elif special < 0.1:
        text = "name\n\"unclosed" + "\nz" * 100
    encoding = rng.choice(("utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"))
    return f"csv {delimiter!r} {encoding}", text.encode(encoding, "replace")


def _xlsx_bytes(rng: random.Random, rows: list[list[str]]) -> tuple[str, bytes]:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook()
    for row in rows:
        wb.active.append([ILLEGAL_CHARACTERS_RE.sub("", c).encode("utf-8", "replace").decode("utf-8") for c in row])
    out = io.BytesIO()
    wb.save(out)
    return "xlsx", out.getvalue()


def roster_case(rng: random.Random, env: FuzzEnv, folder: Path):  # noqa: ANN201
    """preview_roster on a damaged class list (and import_roster of what it previews)."""
    from bench.fuzz_images import encoded_bases, synthetic_image

    photos = folder / "photos"
    photos.mkdir()
    bases = env.once("image_bases", lambda: encoded_bases(synthetic_image()))
    (photos / "a.jpg").write_bytes(bases["jpeg"])  # type: ignore[index]
    (photos / "b.png").write_bytes(b"not a png")
    rows = _roster_rows(rng)
    xlsx = rng.random() < 0.4
    label, data = _xlsx_bytes(rng, rows) if xlsx else _csv_bytes(rng, rows)
    r = rng.random()
    if xlsx and r < 0.35:
        how, data = damage_zip_entry(rng, data)
        label += f", {how}"
    elif r < 0.5:
        how, data = mutate_bytes(rng, data)
        label += f", {how}"
    path = folder / ("list.xlsx" if xlsx else rng.choice(("list.csv", "list.txt", "list.tsv")))
    path.write_bytes(data)
    do_import = rng.random() < 0.3
    service = env.service

    def call() -> None:
        preview = service.preview_roster(path)
        preview.summary()
        if do_import:
            service.import_roster(preview)

    return f"{label}{', import' if do_import else ''}", call
