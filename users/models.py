from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

EMAIL_MAX_LENGTH = 254
# The argon2id hashes this service makes. A stored hash of another kind was made elsewhere
# (the Rust service's argon2i, an older hasher), for a password these rules never saw.
OWN_HASH_PREFIX = "argon2$argon2id$"


class UserState(models.IntegerChoices):
    ACTIVE = 0, "active"
    DEACTIVATED = 1, "deactivated"


class Role(models.TextChoices):
    USER = "user"
    ADMIN = "admin"


class MalformedEmail(ValueError):
    """An address whose domain cannot be encoded for mail (an empty or overlong label)."""


def normalize_email(email: str) -> str:
    """The one spelling of an address that is stored and looked up: one account per mailbox.

    The domain is encoded the way Django's mail encodes it to send (Python's `idna` codec,
    IDNA 2003: nameprep maps full-width letters and dots by NFKC and `ß` to `ss`), so two
    addresses whose mail reaches one mailbox are one account; the whole address is in
    lower case (the database checks that). Raises MalformedEmail for a domain mail cannot
    be sent to.
    """
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return domain.lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise MalformedEmail(email) from exc
    normalized = f"{local}@{ascii_domain}".lower()
    if len(normalized) > EMAIL_MAX_LENGTH:
        raise MalformedEmail(email)
    return normalized


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None, **fields: Any) -> "User":
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> "User":
        try:
            email = normalize_email(username or "")
        except MalformedEmail:
            raise self.model.DoesNotExist() from None
        return self.get(email=email)


class User(AbstractBaseUser):
    # Wider than Django's 128: an imported Rust hash is kept as it is, and its salt (the
    # Rust service's SERVER_PASSWORD_SALT) may be long; its column was 512 too.
    password = models.CharField("password", max_length=512)
    # Stored as normalize_email spells it (a check constraint holds the lower case), so
    # this index is case-insensitive and makes one account per mailbox.
    email = models.EmailField(max_length=EMAIL_MAX_LENGTH, unique=True)
    state = models.SmallIntegerField(choices=UserState.choices, default=UserState.ACTIVE)
    verified = models.SmallIntegerField(choices=[(0, "no"), (1, "yes")], default=0)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    # A new address waiting for its verification link; the login stays `email` until then.
    pending_email = models.EmailField(max_length=EMAIL_MAX_LENGTH, null=True, blank=True)  # noqa: DJ001
    # Set at the first login with a password that fails today's rules (one set in the Rust
    # service, which had none): it still logs in, and the client asks for a new one.
    # Cleared by any password change or reset.
    password_change_required = models.BooleanField(default=False, db_default=False)
    # When manage.py import_seed brought this account from the Rust service's database.
    imported_at = models.DateTimeField(null=True, blank=True)
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

    def check_password(self, raw_password: str) -> bool:
        """Django's check, but its rehash (new argon2 parameters) is written only over the
        hash it verified: a password changed meanwhile is not overwritten with the old one.

        A password hashed elsewhere is checked against today's rules while it is at hand:
        one that fails them is flagged (password_change_required), not refused."""
        verified = self.password

        def rehash(raw: str) -> None:
            self.set_password(raw)
            self._password = None
            fields: dict[str, Any] = {"password": self.password}
            if not verified.startswith(OWN_HASH_PREFIX):
                self.password_change_required = not _meets_rules(raw, self)
                fields["password_change_required"] = self.password_change_required
            User.objects.filter(pk=self.pk, password=verified).update(**fields)

        return check_password(raw_password, verified, rehash)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.state == UserState.ACTIVE

    # Set by the authentication on the request's copy: the role the session may act with
    # when less than the user's (auth.models.Session.role_limit), never saved.
    session_role_limit = ""

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN and self.session_role_limit in ("", Role.ADMIN)

    # The Django admin is for this service's admins, who may do everything in it.
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.is_admin

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff


def _meets_rules(password: str, user: User) -> bool:
    try:
        validate_password(password, user=user)
    except ValidationError:
        return False
    return True


class TokenPurpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email"
    EMAIL_CHANGE = "email_change"
    PASSWORD_RESET = "password_reset"  # noqa: S105


class OneTimeToken(models.Model):
    """A single-use token sent by email. Only its keyed hash is stored.

    At most one token per user and purpose is live (neither used nor cancelled; an expired
    one counts until it is purged): a new one cancels the older ones.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=32, choices=TokenPurpose.choices)
    token_hash = models.CharField(max_length=64)
    # For EMAIL_CHANGE: the address that becomes the login when the token is used.
    new_email = models.EmailField(max_length=EMAIL_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "user_tokens"
        constraints = [
            # Also the index of the live-token lookups.
            models.UniqueConstraint(
                fields=["user", "purpose"],
                name="user_tokens_one_live",
                condition=models.Q(used_at__isnull=True, cancelled_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose} token of user {self.user_id}"
