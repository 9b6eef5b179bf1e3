import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class SessionQuerySet(models.QuerySet["Session"]):
    def live(self) -> "SessionQuerySet":
        """Neither revoked nor expired: the sessions whose tokens still work."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class Session(models.Model):
    """A login. Access tokens carry its id (`sid`); revoking it ends them on the next request.

    Refresh tokens are not stored: each is an HMAC over (session, generation, salt), so the
    row keeps only the current generation and when it last changed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    salt = models.CharField(max_length=64)
    generation = models.PositiveIntegerField(default=0)
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    # How and when the login was authenticated (RFC 8176 `amr` values): every token of the
    # session carries them, so a refresh is no fresher an authentication than its login.
    amr = models.JSONField(default=list)
    auth_time = models.DateTimeField(null=True)
    # The role its requests and tokens have, when less than the user's: an admin's login
    # without a second factor while MFA_REQUIRED_FOR_ADMINS=1 is a user's.
    role_limit = models.CharField(max_length=16, blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        db_table = "user_sessions"
        indexes = [
            models.Index(
                fields=["user"],
                name="user_sessions_active_idx",
                condition=models.Q(revoked_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"session {self.pk} of user {self.user_id}"


class LoginThrottle(models.Model):
    """Consecutive failed logins per account key (an HMAC of the email, known or not)."""

    key = models.CharField(max_length=64, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    # Unix time (seconds) before which no attempt on this key is evaluated.
    next_attempt_at = models.FloatField(default=0)

    class Meta:
        db_table = "login_throttle"

    def __str__(self) -> str:
        return f"{self.failures} failures"


class RateBucket(models.Model):
    """A token bucket per (action, client IP)."""

    key = models.CharField(max_length=128, primary_key=True)
    tokens = models.FloatField()
    # Unix time (seconds) of the last update.
    updated_at = models.FloatField()

    class Meta:
        db_table = "rate_buckets"

    def __str__(self) -> str:
        return self.key
