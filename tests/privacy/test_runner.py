"""The runner thread (privacy/runner.py) as a web worker runs it: woken by a job that is
due now, stopped at once when idle."""

import time
from datetime import timedelta

import pytest

from privacy import services
from privacy.models import Erasure, ErasureState
from privacy.runner import Runner
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_runner_is_woken_by_a_due_job_and_stops_when_asked(user, settings):
    settings.PRIVACY_JOBS_IDLE_SECONDS = 60  # only the wake-up can make it look in time
    runner = Runner()
    runner.start()
    try:
        time.sleep(0.2)  # idle, waiting
        services.erasure_schedule(user=user, requested_by="admin", delay=timedelta(0))
        deadline = time.monotonic() + 10
        while User.objects.filter(pk=user.pk).exists():
            assert time.monotonic() < deadline, "the runner did not wake"
            time.sleep(0.05)
        assert Erasure.objects.get(user_id=user.pk).state == ErasureState.DONE
    finally:
        started = time.monotonic()
        runner.stop()
    assert time.monotonic() - started < 1.5
