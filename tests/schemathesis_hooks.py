"""Loaded by the Schemathesis CLI (SCHEMATHESIS_HOOKS) in its own process: every generated
request carries a fresh access token of the fuzzing account, which is made active (and
given its role) again first, so that a case that logged it out, deactivated it or
demoted it does not leave the rest of the run unauthenticated."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "restapi.settings")
django.setup()

import schemathesis  # noqa: E402
from schemathesis import AuthContext, Case  # noqa: E402

from auth.services import session_start  # noqa: E402
from users.models import User, UserState  # noqa: E402

USER_ID = int(os.environ["FUZZ_USER_ID"])
ROLE = os.environ["FUZZ_ROLE"]


@schemathesis.auth(refresh_interval=None)
class FreshToken:
    def get(self, case: Case, ctx: AuthContext) -> str:
        User.objects.filter(pk=USER_ID).update(state=UserState.ACTIVE, role=ROLE)
        user = User.objects.get(pk=USER_ID)
        return session_start(user=user, client_ip="127.0.0.1", user_agent="schemathesis").token

    def set(self, case: Case, data: str, ctx: AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
