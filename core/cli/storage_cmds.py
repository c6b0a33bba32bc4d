"""CLI commands that keep the register safe: backup (and --list) and restore."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.storage.backup import backup_database, backup_folder, check_backup, list_backups, restore_database
from core.cli.console import confirm
from core.cli.context import Context
from core.storage.db import default_db_path


def db_path_of(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db is not None else default_db_path()


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def cmd_backup(ctx: Context, args: argparse.Namespace) -> int:
    folder = args.folder or backup_folder(db_path_of(args))
    if args.list:
        backups = list_backups(folder)
        if not backups:
            print(f"no backups in {folder}")
            return 0
        for b in backups:
            print(f"{b.created:%Y-%m-%d %H:%M:%S}  {b.reason:<18} {_size(b.size):>9}  {b.path}")
        return 0
    path = backup_database(ctx.service.db, "manual", folder)  # opening checks the database first
    print(f"backup written: {path} ({_size(path.stat().st_size)})")
    return 0


def cmd_restore(ctx: Context, args: argparse.Namespace) -> int:
    db_path = db_path_of(args)
    check_backup(args.backup)  # refuse a bad file before asking
    if not confirm(f"Replace the register in {db_path} with the backup {args.backup}? "
                   f"(the current one is backed up first)", args.yes):
        print("nothing was restored", file=sys.stderr)
        return 1
    before = restore_database(args.backup, db_path)
    print(f"restored {db_path} from {args.backup}")
    if before is not None:
        print(f"the register as it was is saved in {before}")
    return 0
