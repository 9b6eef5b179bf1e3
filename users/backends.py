from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from restapi.clients import client_ip
from restapi.exceptions import InvalidCredentials, RateLimited
from users.models import User, UserState
from users.services import password_check


class PasswordBackend(BaseBackend):
    """Django's authenticate() through users.services.password_check, so that nothing that
    calls it (the admin's login, any later form) skips the brute-force limits."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        ip = client_ip(request) if request is not None else ""
        try:
            return password_check(email=username, password=password, client_ip=ip)
        except RateLimited:
            # Django stops at PermissionDenied: no other backend is asked.
            raise PermissionDenied from None
        except InvalidCredentials:
            return None

    def get_user(self, user_id: int) -> User | None:
        return User.objects.filter(pk=user_id, state=UserState.ACTIVE).first()
