from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.db.models import QuerySet

from mfa.models import Passkey, RecoveryCode, Totp
from restapi.exceptions import NotFound


@dataclass(frozen=True)
class Factors:
    totp: bool  # confirmed
    passkeys: int
    recovery_codes_left: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0

    @property
    def methods(self) -> list[str]:
        """The second factors the user can log in with, as POST /login names them."""
        methods = ["totp"] * self.totp + ["webauthn"] * (self.passkeys > 0)
        return [*methods, "recovery_code"] if methods and self.recovery_codes_left else methods


# Only the models' own table names are put into the text; the user id is a parameter.
FACTORS_SQL = (
    "SELECT "  # noqa: S608
    f"EXISTS (SELECT 1 FROM {Totp._meta.db_table} "
    "WHERE user_id = %s AND confirmed_at IS NOT NULL), "
    f"(SELECT COUNT(*) FROM {Passkey._meta.db_table} WHERE user_id = %s), "
    f"(SELECT COUNT(*) FROM {RecoveryCode._meta.db_table} WHERE user_id = %s AND used_at IS NULL)"
)


def factors_of(*, user: AbstractBaseUser) -> Factors:
    """The user's second factors, in one query (every login of every user asks)."""
    with connection.cursor() as cursor:
        cursor.execute(FACTORS_SQL, [user.pk] * 3)
        totp, passkeys, codes = cursor.fetchone()
    return Factors(totp=bool(totp), passkeys=passkeys, recovery_codes_left=codes)


def methods_of(*, user: AbstractBaseUser) -> list[str]:
    return factors_of(user=user).methods


def has_factor(*, user: AbstractBaseUser) -> bool:
    return factors_of(user=user).any


def passkeys_of(*, user: AbstractBaseUser) -> QuerySet[Passkey]:
    return Passkey.objects.filter(user_id=user.pk).order_by("created_at")


def passkey_get_for_user(*, user: AbstractBaseUser, passkey_id: int) -> Passkey:
    """The user's passkey with this id; the same 404 for absent and someone else's."""
    passkey = passkeys_of(user=user).filter(pk=passkey_id).first()
    if passkey is None:
        raise NotFound()
    return passkey
