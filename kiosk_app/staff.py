"""Provision the till's staff accounts: ``python -m kiosk_app.staff add|remove|list FILE [ID]``.

The file holds one salted scrypt hash per staff member (never a PIN) and is written with
mode 0600; give it to the kiosk with ``facepay-kiosk --staff-file FILE``. ``add`` asks for
the PIN twice without echoing it (or reads one line from standard input when that is not a
terminal, for provisioning scripts).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk_app.model import StaffDirectory

__all__ = ["main"]


def _read_pin() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    pin = getpass.getpass("PIN (6 or more digits): ")
    if getpass.getpass("PIN again: ") != pin:
        raise SystemExit("the two PINs differ: nothing changed")
    return pin


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kiosk_app.staff", description=__doc__)
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("file", type=Path)
    p.add_argument("staff_id", nargs="?", default="")
    p.add_argument("--name", default="", help="the staff member's name, for the audit log")
    args = p.parse_args(argv)
    directory = StaffDirectory.load(args.file) if args.file.exists() else StaffDirectory()
    if args.action == "list":
        for staff_id in directory.ids():
            print(staff_id)
        return 0
    if not args.staff_id:
        p.error("a staff id is needed")
    if args.action == "add":
        try:
            directory.add(args.staff_id, _read_pin(), name=args.name)
        except ValueError as exc:
            sys.stderr.write(f"{exc}\n")
            return 2
    else:
        directory.remove(args.staff_id)
    directory.save(args.file)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
