"""The optional admin PIN: digits, stored in the database's settings as a salted scrypt hash (a new
random salt each time it is set), never as the PIN itself. Checked with a constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from core.errors import RollcallError
from core.storage.db import Database

ADMIN_PIN_KEY = "admin_pin_hash"
PIN_DIGITS = (4, 12)
_N, _R, _P = 2 ** 14, 8, 1  # scrypt's cost (about 16 MB and a few tens of ms a check)
_SCHEME = "scrypt"


class AdminPinError(RollcallError):
    """The admin PIN given is not valid, or the current one was not given correctly."""


def check_pin_format(pin: str) -> str:
    pin = (pin or "").strip()
    low, high = PIN_DIGITS
    if not (pin.isdigit() and pin.isascii() and low <= len(pin) <= high):
        raise AdminPinError(f"an admin PIN is {low} to {high} digits (0-9), nothing else")
    return pin


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """'scrypt$N$r$p$salt$hash' (hex) of a valid PIN, with a new random salt unless one is given."""
    pin = check_pin_format(pin)
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{_SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether `pin` is the one `stored` was made from (a damaged record verifies nothing)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = bytes.fromhex(digest)
        got = hashlib.scrypt((pin or "").strip().encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(got, expected)


def stored_hash(db: Database) -> str:
    return db.get_setting(ADMIN_PIN_KEY) or ""


def has_pin(db: Database) -> bool:
    return bool(stored_hash(db))


def pin_ok(db: Database, entered: str) -> bool:
    """True without a PIN set, else whether `entered` is it."""
    stored = stored_hash(db)
    return not stored or verify_pin(entered, stored)


def set_pin(db: Database, new: str | None, current: str = "") -> None:
    """Set, change (`new`) or clear (`new` None or empty) the PIN; once one is set, `current` must be it."""
    if not pin_ok(db, current):
        raise AdminPinError("the current admin PIN is wrong; nothing was changed")
    value = hash_pin(new) if new else None
    with db.transaction() as conn:
        db.set_setting(ADMIN_PIN_KEY, value, conn)
