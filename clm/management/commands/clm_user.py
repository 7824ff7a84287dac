"""`python manage.py clm_user <username> --role <role> [--role ...] [--password-stdin]`: create or update a user."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clm.choices import Role
from clm.users import user_upsert


class Command(BaseCommand):
    help = "Create or update a user and set its roles (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            choices=[r.value for r in Role],
            help="A role to hold; repeat for several. The user's roles become exactly these.",
        )
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin given but standard input held no password.")
        try:
            result = user_upsert(
                username=options["username"], roles=options["role"], password=password, email=options["email"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "created" if result.created else "updated"
        self.stdout.write(f"User {result.username} {verb}; roles: {', '.join(options['role']) or 'none'}.")
        if result.generated_password:
            self.stdout.write(f"Generated password (shown once): {result.generated_password}")
