from django.db import transaction
from django.utils import timezone

from restapi.exceptions import InvalidCredentials
from users.models import User, normalize_email


def user_authenticate(*, email: str, password: str) -> User:
    """The user for these credentials, or one generic 401 after the same amount of hashing."""
    try:
        user = User.objects.get(email=normalize_email(email))
    except User.DoesNotExist:
        # Hash anyway so that an unknown email takes as long as a wrong password.
        User().set_password(password)
        raise InvalidCredentials() from None
    # check_password rehashes (and saves) a hash made with other argon2 parameters.
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials()
    return user


@transaction.atomic
def user_login(*, email: str, password: str) -> User:
    user = user_authenticate(email=email, password=password)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return user
