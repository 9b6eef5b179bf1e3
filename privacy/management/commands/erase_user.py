import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from privacy import selectors, services
from privacy.models import ErasureState
from restapi.commands import EXIT_UNAVAILABLE, ServiceCommand, positive_int
from users.selectors import user_get

# How often it looks at an erasure that a runner of the service is doing.
WAIT_SECONDS = 0.5


class Command(ServiceCommand):
    help = (
        "Erase a user: revoke every session, deactivate the account, and after "
        "USER_ERASE_GRACE_SECONDS delete everything about it (files and every stored object "
        "under the user's prefix, every row, the audit trail pseudonymised; user.erased and a "
        "Kafka tombstone are published). --now does the deletion here and now; --cancel "
        "calls off a scheduled one. Running it again is harmless."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user_id", type=positive_int, help="the user's id")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--now", action="store_true", help="delete now, waiting until done")
        what.add_argument("--cancel", action="store_true", help="call off a scheduled erasure")

    def handle(self, *args: Any, user_id: int, now: bool, cancel: bool, **options: Any) -> None:
        erasure = selectors.erasure_of(user_id=user_id)
        if erasure is not None and erasure.state == ErasureState.DONE:
            self.stdout.write(
                f"User {user_id} was erased at {erasure.finished_at:%Y-%m-%d %H:%M:%S}"
            )
            return
        if cancel:
            try:
                services.erasure_cancel(user_id=user_id)
            except services.NotCancellable as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(
                f"Cancelled the erasure of user {user_id}; the account stays deactivated "
                "(an admin can reactivate it)."
            )
            return
        user = user_get(user_id=user_id)
        if user is not None:
            grace = 0 if now else settings.USER_ERASE_GRACE_SECONDS
            erasure = services.erasure_schedule(
                user=user, requested_by="system", delay=timedelta(seconds=grace)
            )
        if erasure is None:
            raise CommandError(f"No user {user_id}")
        if not now:
            self.stdout.write(
                f"User {user_id} is deactivated and will be erased at "
                f"{erasure.due_at:%Y-%m-%d %H:%M:%S} UTC (--cancel calls it off)"
            )
            return
        self._run(user_id)

    def _run(self, user_id: int) -> None:
        """Carries the erasure out here, or follows a runner of the service that holds it
        (and takes it over if that runner dies), until it is done."""
        waiting = False
        while True:
            erasure = services.erasure_claim(user_id=user_id)
            if erasure is not None:
                if services.erasure_run(erasure):
                    break
                if erasure.last_error:
                    raise CommandError(
                        f"Storage failed ({erasure.last_error}); the service tries again at "
                        f"{erasure.next_attempt_at:%H:%M:%S} UTC, or run this again",
                        returncode=EXIT_UNAVAILABLE,
                    )
                continue  # an upload landed meanwhile: the next pass erases its file
            erasure = selectors.erasure_of(user_id=user_id)
            if erasure is None or erasure.state == ErasureState.CANCELLED:
                raise CommandError(f"The erasure of user {user_id} was cancelled")
            if erasure.state == ErasureState.DONE:
                break
            if not waiting:
                self.stdout.write(
                    f"The erasure of user {user_id} is running in the service; waiting"
                )
                waiting = True
            time.sleep(WAIT_SECONDS)
        self.stdout.write(
            f"Erased user {user_id}: {erasure.files_deleted} files, "
            f"{erasure.objects_deleted} objects under their prefix"
        )
