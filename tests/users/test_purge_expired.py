"""manage.py purge_expired: batches, progress and its arguments (what it keeps is in
test_email_flows.py)."""

import io
import time

import pytest
from django.core.management import CommandError, call_command

from auth.models import LoginThrottle, RateBucket, Session
from restapi import commands, purge
from tests.helpers import claims, tokens_for

pytestmark = pytest.mark.django_db


def test_purge_deletes_in_batches_and_reports_progress_without_a_terminal(monkeypatch):
    monkeypatch.setattr(purge, "BATCH_ROWS", 2)
    monkeypatch.setattr(commands, "PROGRESS_INTERVAL_SECONDS", 0)
    LoginThrottle.objects.bulk_create(
        [LoginThrottle(key=f"idle-{n}", next_attempt_at=0) for n in range(5)]
    )
    LoginThrottle.objects.create(key="busy", next_attempt_at=time.time())
    RateBucket.objects.create(key="idle", tokens=1, updated_at=0)
    out, err = io.StringIO(), io.StringIO()
    call_command("purge_expired", stdout=out, stderr=err)
    assert out.getvalue() == (
        "Deleted 0 tokens, 0 second-factor challenges, 0 sessions, 5 login counters, "
        "1 rate buckets, 0 audit entries\n"
    )
    progress = [line.split(" (")[0] for line in err.getvalue().splitlines()]
    assert progress == [
        "Deleting login counters: 2",
        "Deleting login counters: 4",
        "Deleting login counters: 5",
        "Deleting rate buckets: 1",
    ]
    assert list(LoginThrottle.objects.values_list("key", flat=True)) == ["busy"]


def test_a_short_purge_prints_only_its_summary(settings):
    err = io.StringIO()
    call_command("purge_expired", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""


@pytest.mark.parametrize("days", ["-3", "soon"])
def test_purge_refuses_a_retention_that_would_delete_live_sessions(user, days):
    # -3 days would have deleted every session expiring within the next three days.
    session = tokens_for(user)
    with pytest.raises(CommandError, match="--session-retention-days: must be a whole number"):
        call_command("purge_expired", "--session-retention-days", days)
    call_command("purge_expired", "--session-retention-days", "0", stdout=io.StringIO())
    assert Session.objects.filter(pk=claims(session.token)["sid"]).exists()


def test_purge_deletes_used_and_expired_challenges_only(user):
    from datetime import timedelta

    from django.utils import timezone

    from mfa.models import Challenge, ChallengePurpose

    soon = timezone.now() + timedelta(minutes=5)

    def challenge(**fields):
        defaults = {"user": user, "purpose": ChallengePurpose.LOGIN, "secret_hash": "0" * 64}
        return Challenge.objects.create(**{**defaults, "expires_at": soon, **fields})

    challenge(used_at=timezone.now())
    challenge(expires_at=timezone.now() - timedelta(seconds=1))
    live = challenge()
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "2 second-factor challenges" in out.getvalue()
    assert list(Challenge.objects.values_list("pk", flat=True)) == [live.pk]
