import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.exceptions import ValidationError

from users.models import MalformedEmail, Role, User, normalize_email
from users.services import user_create, user_set_role


class Command(BaseCommand):
    help = (
        "Make an admin: creates the account, or promotes an existing one. The password comes "
        "from $ADMIN_PASSWORD or a prompt (never from the command line)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        try:
            user = User.objects.filter(email=normalize_email(email)).first()
        except MalformedEmail:
            raise CommandError(f"Not an address mail can reach: {email!r}") from None
        try:
            if user is None:
                password = os.environ.get("ADMIN_PASSWORD") or getpass.getpass("Password: ")
                user = user_create(email=email, password=password)
            user_set_role(user=user, role=Role.ADMIN)
        except ValidationError as exc:
            raise CommandError(f"Invalid input: {exc.detail}") from exc
        self.stdout.write(f"{user.email} (user_id {user.pk}) is an admin")
