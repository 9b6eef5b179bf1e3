"""A user's rights over their data (GDPR articles 15, 17 and 20): an export of everything
held about them, and an erasure that leaves nothing behind. Each is a job row that a
background runner (privacy/runner.py) works through, resumable after a crash."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Job(models.Model):
    """What the runner (privacy/runner.py) keeps of a job's attempts."""

    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A running attempt holds the job until then, and renews it as it goes: past it, the
    # runner that held it is taken to have died, and another takes the job over.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True


class ExportState(models.TextChoices):
    PENDING = "pending"  # waiting for a runner (also again after a failed attempt)
    RUNNING = "running"
    READY = "ready"  # the archive is stored, until expires_at
    FAILED = "failed"  # storage failed every attempt: the user asks again


# An export being made: one at a time per user.
EXPORT_UNFINISHED = [ExportState.PENDING, ExportState.RUNNING]


class Export(Job):
    """An archive of what the service holds about a user. Its id is the one the API shows:
    random, so that ids cannot be walked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=16, choices=ExportState.choices, default="pending")
    # Under the user's storage prefix (userdata.services.export_key), fixed when the row is
    # made: a retried attempt overwrites the same object, so none is left behind.
    key = models.CharField(max_length=512)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    size_in_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        db_table = "user_exports"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="user_exports_due_idx",
                condition=models.Q(state__in=["pending", "running"]),
            ),
            models.Index(
                fields=["expires_at"],
                name="user_exports_expiry_idx",
                condition=models.Q(expires_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ExportState.values), name="user_exports_state_valid"
            )
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of user {self.user_id} ({self.state})"


class ErasureState(models.TextChoices):
    SCHEDULED = "scheduled"  # waiting for due_at (or for a retry after storage failed)
    RUNNING = "running"
    DONE = "done"  # nothing of the user is left; this row keeps only the id and the times
    CANCELLED = "cancelled"


# An erasure that is still to be carried out.
ERASURE_PENDING = [ErasureState.SCHEDULED, ErasureState.RUNNING]


class ErasureStep(models.TextChoices):
    """Where a running erasure has got to. Each step can be done again without harm, so an
    erasure interrupted anywhere resumes at its step."""

    FILES = "files"  # the files' objects and rows, a batch at a time
    OBJECTS = "objects"  # everything else under the user's storage prefix (exports, strays)
    ROWS = "rows"  # audit pseudonymised, every row of the user deleted, user.erased written


class Erasure(Job):
    """A user's hard deletion, scheduled USER_ERASE_GRACE_SECONDS after it was asked for.

    `user_id` is a plain number, not a foreign key: the row outlives the user's, as the
    record that (and when) the erasure was done."""

    user_id = models.BigIntegerField(unique=True)
    state = models.CharField(max_length=16, choices=ErasureState.choices, default="scheduled")
    step = models.CharField(max_length=16, choices=ErasureStep.choices, default="files")
    requested_at = models.DateTimeField(default=timezone.now)
    # "user" (the subject asked), "admin" or "system" (manage.py erase_user).
    requested_by = models.CharField(max_length=16)
    due_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    files_deleted = models.PositiveIntegerField(default=0)
    objects_deleted = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "user_erasures"
        indexes = [
            models.Index(
                fields=["due_at"],
                name="user_erasures_due_idx",
                condition=models.Q(state__in=["scheduled", "running"]),
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ErasureState.values),
                name="user_erasures_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(step__in=ErasureStep.values), name="user_erasures_step_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"erasure of user {self.user_id} ({self.state})"
