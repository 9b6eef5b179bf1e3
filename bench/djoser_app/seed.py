"""Makes N users of the reference app and prints their ids and access tokens as JSON.

DJANGO_SETTINGS_MODULE=bench.djoser_app.settings python -m bench.djoser_app.seed N
"""

import json
import sys
from typing import Any

import django


def main() -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from rest_framework_simplejwt.tokens import AccessToken

    count = int(sys.argv[1])
    model = get_user_model()
    # One hash for all: PBKDF2 at Django's cost takes a while, and no login is measured here.
    password = make_password("bench password 123")
    # A stock auth.User has a username; the type checker knows only the service's model.
    fields: list[dict[str, Any]] = [
        {"username": f"bench{i}", "email": f"bench{i}@example.com", "password": password}
        for i in range(count)
    ]
    users = model.objects.bulk_create(model(**row) for row in fields)
    json.dump([{"id": u.pk, "token": str(AccessToken.for_user(u))} for u in users], sys.stdout)


if __name__ == "__main__":
    main()
