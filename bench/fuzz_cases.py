"""Seeded fuzz cases for hostile input (issue 16), shared by tests/core/test_fuzz.py and `python -m bench.fuzz`.

A case is made from (seed, index) alone, so any one can be replayed on its own. Its kind (images, enrolment,
model files, configs, names and exports, class lists) is drawn in the proportions of `KINDS`; the kind's
generator (bench.fuzz_images, bench.fuzz_models, bench.fuzz_text) mutates a valid input and returns the call
to make. The rule every case must keep: the call returns, or raises a `core.errors.RollcallError`; any other
exception is a crash. (Time and memory bounds are kept by bench.fuzz's watchdog.) Core never imports this.
"""

from __future__ import annotations

import io
import random
import shutil
import struct
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import RollcallError

# kind -> share of the cases (relative weights)
KINDS = {"image": 40, "enrol": 4, "model": 20, "config": 14, "text": 10, "roster": 12}
OK, REFUSED, CRASH = "ok", "refused", "crash"


@dataclass
class Outcome:
    index: int
    kind: str
    label: str  # what the case did to its input
    result: str  # OK, REFUSED or CRASH
    detail: str = ""  # the refusal's message or the crash's traceback


class FuzzEnv:
    """What the cases share, built on first use: a scratch folder, the valid inputs they mutate, a service
    on a temporary data folder (names, exports and class lists) and its enroller. `large`: some image and
    enrolment cases use photos of up to 81 MP (seconds each; the suite leaves them to bench.fuzz)."""

    def __init__(self, root: Path | None = None, shared: Path | None = None, large: bool = True) -> None:
        self.large = large
        self._own = root is None
        self.root = Path(tempfile.mkdtemp(prefix="rollcall-fuzz-")) if root is None else Path(root)
        self.shared = shared
        self.cache: dict[str, object] = {}
        self._service = None
        self._enroller = None

    def scratch(self, index: int) -> Path:
        """A fresh, empty folder for case `index` (the previous case's files are removed first)."""
        folder = self.root / "case"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def once(self, key: str, build: Callable[[], object]) -> object:
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]

    @property
    def service(self):  # noqa: ANN201 - core.service.Rollcall
        if self._service is None:
            from core.service import Rollcall

            folder = self.root / "data"
            folder.mkdir(exist_ok=True)
            self._service = Rollcall.open(folder)
        return self._service

    @property
    def enroller(self):  # noqa: ANN201 - core.gallery.enrol.Enroller
        if self._enroller is None:
            self._enroller = self.service.enroller()
        return self._enroller

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None
        if self._own:
            shutil.rmtree(self.root, ignore_errors=True)


def case_rng(seed: int, index: int) -> random.Random:
    """The random generator of one case: the same (seed, index) always gives the same case."""
    return random.Random(f"rollcall-fuzz:{seed}:{index}")


def case_kind(seed: int, index: int) -> str:
    return case_rng(seed, index).choices(list(KINDS), weights=list(KINDS.values()))[0]


def generators() -> dict[str, Callable]:
    from bench import fuzz_images, fuzz_models, fuzz_text

    return {"image": fuzz_images.image_case, "enrol": fuzz_images.enrol_case, "model": fuzz_models.model_case,
            "config": fuzz_text.config_case, "text": fuzz_text.text_case, "roster": fuzz_text.roster_case}


def run_case(seed: int, index: int, env: FuzzEnv, kind: str | None = None) -> Outcome:
    """Make case `index` of `seed` (of `kind`, else the drawn one) and run it. The generator's own failures
    are raised (a bug in the harness, not a finding)."""
    rng = case_rng(seed, index)
    kind = kind or rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    label, call = generators()[kind](rng, env, env.scratch(index))
    try:
        call()
    except RollcallError as exc:
        return Outcome(index, kind, label, REFUSED, str(exc)[:300])
    except Exception:  # noqa: BLE001 - anything else breaks the rule: that is what we are looking for
        return Outcome(index, kind, label, CRASH, traceback.format_exc(limit=12))
    return Outcome(index, kind, label, OK)


# ---------------------------------------------------------------------- byte mutations

EXTREME_U32 = (0, 1, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def mutate_bytes(rng: random.Random, data: bytes, keep: int = 0) -> tuple[str, bytes]:
    """One random damage to `data` (the first `keep` bytes, a signature, stay as they are)."""
    buf = bytearray(data)
    n = len(buf)
    how = rng.choice(("bitflip", "bitflip", "truncate", "overwrite", "insert", "delete", "u32", "append",
                      "duplicate", "zero_tail", "random_body"))
    lo = min(keep, n)
    if how == "bitflip":
        flips = rng.choice((1, 2, 4, 16, 64))
        for _ in range(flips):
            if n > lo:
                pos = rng.randrange(lo, n)
                buf[pos] ^= 1 << rng.randrange(8)
        return f"bitflip x{flips}", bytes(buf)
    if how == "truncate":
        cut = rng.choice((0, 1, lo, rng.randrange(0, n + 1), n // 2, max(n - 1, 0)))
        return f"truncate at {cut}", bytes(buf[:cut])
    if how == "overwrite" and n > lo:
        pos = rng.randrange(lo, n)
        size = rng.choice((1, 4, 16, 256))
        buf[pos:pos + size] = rng.randbytes(size)
        return f"overwrite {size} at {pos}", bytes(buf)
    if how == "insert":
        pos = rng.randrange(lo, n + 1)
        size = rng.choice((1, 7, 100, 4096))
        return f"insert {size} at {pos}", bytes(buf[:pos] + rng.randbytes(size) + buf[pos:])
    if how == "delete" and n > lo:
        pos = rng.randrange(lo, n)
        size = rng.choice((1, 3, 64, 1024))
        del buf[pos:pos + size]
        return f"delete {size} at {pos}", bytes(buf)
    if how == "u32" and n >= lo + 4:
        pos = rng.randrange(lo, n - 3)
        value = rng.choice(EXTREME_U32)
        buf[pos:pos + 4] = struct.pack(rng.choice("<>") + "I", value)
        return f"u32 {value:#x} at {pos}", bytes(buf)
    if how == "append":
        size = rng.choice((1, 100, 10_000))
        return f"append {size}", bytes(buf) + rng.randbytes(size)
    if how == "duplicate" and n > lo:
        pos = rng.randrange(lo, n)
        chunk = buf[pos:pos + rng.choice((16, 512, 8192))]
        return f"duplicate {len(chunk)} at {pos} x{8}", bytes(buf[:pos] + chunk * 8 + buf[pos:])
    if how == "zero_tail" and n > lo:
        pos = rng.randrange(lo, n)
        return f"zero from {pos}", bytes(buf[:pos]) + bytes(n - pos)
    size = rng.choice((0, 10, 1000, 100_000))
    return f"signature + {size} random bytes", bytes(buf[:max(lo, 2)]) + rng.randbytes(size)


def damage_zip_entry(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One entry of a zip archive (data.pkl, a tensor's bytes, the version) damaged, the zip itself kept
    valid (sizes and CRCs rewritten), so the damage reaches torch's parser."""
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        entries = [(info.filename, zin.read(info)) for info in zin.infolist()]
    pick = rng.randrange(len(entries))
    name, content = entries[pick]
    if name.endswith("data.pkl") and rng.random() < 0.5:
        pick = next(i for i, (n, _) in enumerate(entries) if n.endswith("data.pkl"))
        name, content = entries[pick]
    how, new = mutate_bytes(rng, content)
    entries[pick] = (name, new)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for entry, body in entries:
            zout.writestr(entry, body)
    return f"entry {name.split('/', 1)[-1]}: {how}", out.getvalue()


# ---------------------------------------------------------------------- hostile text and values

FORMULAS = ("=1+1", "=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", " =cmd|' /C calc'!A0",
            "=\"=\"&1", "\u00a0=1", "＝1")
ODD_CHARS = ("\x00", "\x1b[31m", "\n", "\r\n", "\t", "\x7f", "\x85", "\u202e", "\u200b", "\ufeff", "\u0301",
             "\U0001F600", "\uFFFD", "\u2028", "\\", "'", "\"", ";", ",", "<", "&amp;", "]]>", "%s", "{0}")


def hostile_text(rng: random.Random, max_len: int = 300) -> str:
    """Text an operator, a class list or a folder name could bring: formulas, control characters,
    bidi overrides, emoji, empty or very long, sometimes a lone surrogate (a non-UTF-8 file name)."""
    how = rng.random()
    if how < 0.15:
        return rng.choice(FORMULAS) + rng.choice(("", " Smith", ";x", "\n=2"))
    if how < 0.2:
        return rng.choice(("", " ", "\t\n", "\x00", "  \u3000 "))
    if how < 0.27:
        return rng.choice(("a", "Ω", "\U0001F600", "é")) * rng.choice((199, 200, 201, 5000, 100_000))
    if how < 0.3:
        return "caf" + rng.choice(("\udce9", "\ud800", "\udfff")) + ".jpg"
    parts = []
    for _ in range(rng.randrange(1, 12)):
        r = rng.random()
        if r < 0.4:
            parts.append(rng.choice(ODD_CHARS))
        elif r < 0.8:
            parts.append("".join(rng.choice("abcdefghijklmnop ABC-'.") for _ in range(rng.randrange(1, 12))))
        else:
            parts.append("".join(chr(rng.choice((rng.randrange(32, 0x250), rng.randrange(0x250, 0xD7FF),
                                                 rng.randrange(0xE000, 0x10FFFF)))) for _ in range(rng.randrange(1, 6))))
    return "".join(parts)[:max_len]


def hostile_value(rng: random.Random, depth: int = 0) -> object:
    """A value a JSON or YAML file could hold, chosen to break a validator."""
    choices = (lambda: rng.choice((0, -1, 1, 2**31, 2**63, -2**63, 10**100, rng.randrange(-1000, 1000))),
               lambda: rng.choice((0.0, -0.0, 0.5, -1.5, 1e308, -1e308, float("inf"), float("nan"), 1e-320)),
               lambda: rng.choice((True, False, None)),
               lambda: hostile_text(rng, 80),
               lambda: [hostile_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))] if depth < 3 else [],
               lambda: ({hostile_text(rng, 20): hostile_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
                        if depth < 3 else {}))
    return rng.choice(choices)()
