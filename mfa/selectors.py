from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from mfa.models import Passkey, RecoveryCode, Totp
from restapi.exceptions import NotFound


def methods_of(*, user: AbstractBaseUser) -> list[str]:
    """The second factors the user can log in with, as POST /login names them."""
    methods = []
    if Totp.objects.filter(user_id=user.pk, confirmed_at__isnull=False).exists():
        methods.append("totp")
    if Passkey.objects.filter(user_id=user.pk).exists():
        methods.append("webauthn")
    if methods and RecoveryCode.objects.filter(user_id=user.pk, used_at=None).exists():
        methods.append("recovery_code")
    return methods


def has_factor(*, user: AbstractBaseUser) -> bool:
    return (
        Totp.objects.filter(user_id=user.pk, confirmed_at__isnull=False).exists()
        or Passkey.objects.filter(user_id=user.pk).exists()
    )


def recovery_codes_left(*, user: AbstractBaseUser) -> int:
    return RecoveryCode.objects.filter(user_id=user.pk, used_at=None).count()


def passkeys_of(*, user: AbstractBaseUser) -> QuerySet[Passkey]:
    return Passkey.objects.filter(user_id=user.pk).order_by("created_at")


def passkey_get_for_user(*, user: AbstractBaseUser, passkey_id: int) -> Passkey:
    """The user's passkey with this id; the same 404 for absent and someone else's."""
    passkey = passkeys_of(user=user).filter(pk=passkey_id).first()
    if passkey is None:
        raise NotFound()
    return passkey
