"""One live token per user and purpose, in the code and in the database."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from users.models import OneTimeToken, TokenPurpose, User
from users.onetime import token_issue

pytestmark = pytest.mark.django_db


def live(user, purpose=TokenPurpose.VERIFY_EMAIL):
    return OneTimeToken.objects.filter(
        user=user, purpose=purpose, used_at=None, cancelled_at=None
    ).count()


def test_the_database_refuses_a_second_live_token(user):
    token_issue(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
    token_issue(user=user, purpose=TokenPurpose.PASSWORD_RESET)
    with pytest.raises(IntegrityError), transaction.atomic():
        OneTimeToken.objects.create(
            user=user,
            purpose=TokenPurpose.VERIFY_EMAIL,
            token_hash="0" * 64,
            expires_at=timezone.now() + timedelta(hours=1),
        )
    assert live(user) == 1 and live(user, TokenPurpose.PASSWORD_RESET) == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_issues_leave_one_live_token(user):
    barrier, errors = threading.Barrier(8), []

    def issue():
        try:
            barrier.wait()
            with transaction.atomic():
                token_issue(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
        except Exception as exc:  # an IntegrityError would be the index catching a race
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert live(user) == 1
    assert OneTimeToken.objects.count() == 8


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_only_tokens_that_still_worked():
    executor = MigrationExecutor(connection)
    executor.migrate([("users", "0004_normalize_email_domains")])
    old_apps = executor.loader.project_state([("users", "0004_normalize_email_domains")]).apps
    OldUser = old_apps.get_model("users", "User")
    OldToken = old_apps.get_model("users", "OneTimeToken")
    user = OldUser.objects.create(email="old@example.com", password="x")
    later = timezone.now() + timedelta(hours=1)

    def token(purpose, wrong=0):
        return OldToken.objects.create(
            user=user, purpose=purpose, token_hash="0" * 64, expires_at=later, wrong_attempts=wrong
        ).pk

    parallel = [token(TokenPurpose.VERIFY_EMAIL) for _ in range(3)]
    burnt = token(TokenPurpose.PASSWORD_RESET, wrong=5)
    guessed_at = token(TokenPurpose.EMAIL_CHANGE, wrong=2)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    still_live = set(
        OneTimeToken.objects.filter(cancelled_at=None, used_at=None).values_list("pk", flat=True)
    )
    assert still_live == {parallel[-1], guessed_at}
    assert burnt not in still_live
    assert User.objects.get().email == "old@example.com"
