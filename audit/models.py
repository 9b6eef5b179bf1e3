from typing import Any

from django.db import models
from django.utils import timezone


class ActorKind(models.TextChoices):
    USER = "user"  # the subject themselves
    ADMIN = "admin"  # an admin, on another user's account
    ANONYMOUS = "anonymous"  # a request that proved no one (a wrong password, a reset request)
    SYSTEM = "system"  # no request: a command, an operator's shell


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("The audit trail is append-only")

    def pseudonymise(self, **kwargs: Any) -> int:
        """The one change an entry may see: an erasure replacing who it was about or by."""
        return super().update(**kwargs)


class AuditEntry(models.Model):
    """One security-relevant action on a user's account. Append-only: rows are written
    in the action's transaction and never changed, but by an erasure's pseudonymisation;
    only the retention purge deletes them.
    `details` holds only fields named in audit.services.DETAIL_FIELDS, never a secret."""

    # The user the entry is about, as a plain id and not a foreign key: entries outlive the
    # user's row (an erasure pseudonymises them), and deleting a user scans no audit rows.
    subject_id = models.BigIntegerField()
    action = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor_id = models.BigIntegerField(null=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    client_ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=256, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        db_table = "audit_log"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["subject_id", "-id"], name="audit_log_subject_idx"),
            models.Index(fields=["occurred_at"], name="audit_log_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} of user {self.subject_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("The audit trail is append-only")
        super().save(*args, **kwargs)
