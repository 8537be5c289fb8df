"""`tagloop users add|list|remove`: the team's users, straight in the corrections database.

Run where the training service runs (the same TAGLOOP_* settings, so the same database).
`add` prints the user's API token once, alone on the last line; it is stored hashed.
"""

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from training_api import users
from training_api.config import Settings
from training_api.db import make_engine


def add_parser(sub: Any, data_dir_overrides: Any) -> None:
    """`tagloop users ...` on the main parser; `data_dir_overrides(args)` gives --data-dir."""
    parser = sub.add_parser("users", help="the team's users: add, list, remove (team mode once one exists)")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create a user and print their API token (once)")
    add.add_argument("name")
    add.add_argument("--role", choices=users.ROLES, required=True)
    add.add_argument(
        "--password-stdin", action="store_true", help="read a password for the UI's sign-in from stdin"
    )
    add.set_defaults(run=lambda args: cmd_add(args, data_dir_overrides(args)))
    actions.add_parser("list", help="every user and role").set_defaults(
        run=lambda args: cmd_list(data_dir_overrides(args))
    )
    remove = actions.add_parser("remove", help="delete a user; their tokens and sign-ins stop working")
    remove.add_argument("name")
    remove.set_defaults(run=lambda args: cmd_remove(args, data_dir_overrides(args)))


@contextmanager
def _db(overrides: dict[str, Any]) -> Iterator[Session]:
    engine = make_engine(Settings(**overrides).sqlalchemy_url())
    try:
        with Session(engine) as db:
            yield db
    finally:
        engine.dispose()


def cmd_add(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    with _db(overrides) as db:
        first = not users.team_mode(db)
        token = users.add_user(db, args.name, args.role, password)
    note = " (team mode is on: every request needs a user now)" if first else ""
    print(f"created {args.role} {args.name}{note}")
    print("their API token, shown only this once (send it as 'Authorization: Bearer <token>'):")
    print(token)
    return 0


def cmd_list(overrides: dict[str, Any]) -> int:
    with _db(overrides) as db:
        found = users.list_users(db)
    if not found:
        print("no users: single-user mode")
    for user in found:
        sign_in = "password" if user.password_hash else "token only"
        print(f"{user.name:<24} {user.role:<10} {sign_in:<11} created {user.created:%Y-%m-%d %H:%M}")
    return 0


def cmd_remove(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    with _db(overrides) as db:
        users.remove_user(db, args.name)
        left = users.team_mode(db)
    print(f"removed {args.name}{'' if left else ' (no users left: single-user mode again)'}")
    return 0
