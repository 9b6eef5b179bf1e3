from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower


class UserState(models.IntegerChoices):
    ACTIVE = 0, "active"
    DEACTIVATED = 1, "deactivated"


class Role(models.TextChoices):
    USER = "user"
    ADMIN = "admin"


def normalize_email(email: str) -> str:
    """Emails are kept in lower case: one account per address, whatever its spelling."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None, **fields: Any) -> "User":
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=normalize_email(username or ""))


class User(AbstractBaseUser):
    # Stored in lower case (a check constraint holds it), so this index is case-insensitive.
    email = models.EmailField(max_length=254, unique=True)
    state = models.SmallIntegerField(choices=UserState.choices, default=UserState.ACTIVE)
    verified = models.SmallIntegerField(choices=[(0, "no"), (1, "yes")], default=0)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    # A new address waiting for its verification link; the login stays `email` until then.
    pending_email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "users"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="users_email_is_lower"
            ),
            models.CheckConstraint(condition=models.Q(state__in=[0, 1]), name="users_state_valid"),
            models.CheckConstraint(
                condition=models.Q(verified__in=[0, 1]), name="users_verified_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["user", "admin"]), name="users_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.state == UserState.ACTIVE

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    # The Django admin is for this service's admins, who may do everything in it.
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.is_admin

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff


class TokenPurpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email"
    EMAIL_CHANGE = "email_change"
    PASSWORD_RESET = "password_reset"  # noqa: S105


class OneTimeToken(models.Model):
    """A single-use token sent by email. Only its keyed hash is stored.

    At most one token per user and purpose is live: a new one cancels the older ones.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=32, choices=TokenPurpose.choices)
    token_hash = models.CharField(max_length=64)
    # For EMAIL_CHANGE: the address that becomes the login when the token is used.
    new_email = models.EmailField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    wrong_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "user_tokens"
        indexes = [
            models.Index(
                fields=["user", "purpose"],
                name="user_tokens_live_idx",
                condition=models.Q(used_at__isnull=True, cancelled_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose} token of user {self.user_id}"
