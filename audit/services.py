"""Writes on the audit trail: an entry, in the caller's transaction, and the purge."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import BigIntegerField, Case, F, Func, JSONField, Value, When

from audit.models import ActorKind, AuditEntry
from restapi.context import REQUEST_CONTEXT, RequestContext
from restapi.purge import delete_in_batches

# What an entry may keep of an action's details: ids, names and what changed, never a
# value that could be a secret (a password, a token, a code, a hash). Anything else an
# announcement carries is dropped.
DETAIL_FIELDS = {
    "changes",
    "method",
    "reason",
    "session_id",
    "passkey_id",
    "name",
    "data_id",
    "filename",
    "via",
    "export_id",
}
# Actions that a request without an authenticated user does without proving to be the
# subject: their actor is unknown. Any other such request proved it (a right password, a
# link or a code from the user's mailbox): its actor is the subject.
UNPROVEN_ACTIONS = {
    "user.login_failed",
    "user.login_mfa_failed",
    "user.password_reset_requested",
    "session.revoked",  # by a replayed refresh token, when no admin did it
}


def _actor(context: RequestContext | None, subject_id: int, action: str) -> tuple[int | None, str]:
    if context is None:
        return None, ActorKind.SYSTEM
    if context.actor_id is None:
        if action in UNPROVEN_ACTIONS:
            return None, ActorKind.ANONYMOUS
        return subject_id, ActorKind.USER
    if context.actor_id != subject_id and context.actor_is_admin:
        return context.actor_id, ActorKind.ADMIN
    return context.actor_id, ActorKind.USER


def entry_add(*, user_id: int, action: str, details: dict[str, Any]) -> AuditEntry:
    """An entry about this user, by the current request's actor (restapi/context.py)."""
    context = REQUEST_CONTEXT.get()
    actor_id, actor_kind = _actor(context, user_id, action)
    return AuditEntry.objects.create(
        subject_id=user_id,
        action=action,
        actor_id=actor_id,
        actor_kind=actor_kind,
        client_ip=(context.client_ip or None) if context else None,
        user_agent=context.user_agent if context else "",
        request_id=context.request_id if context else "",
        details={key: value for key, value in details.items() if key in DETAIL_FIELDS},
    )


# What an erasure removes from the details of the user's entries: names the user chose.
PERSONAL_DETAILS = ("filename", "name")


class _WithoutKeys(Func):
    """A JSON object without these keys, computed by the database (PostgreSQL's jsonb `-`,
    SQLite's json_remove), so that an UPDATE of any number of rows is one statement."""

    output_field = JSONField()

    def __init__(self, expression: Any, keys: tuple[str, ...]) -> None:
        super().__init__(expression)
        self.keys = keys

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} - %s::text[])", [*params, list(self.keys)]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        paths = ", ".join("%s" for _ in self.keys)
        return f"json_remove({sql}, {paths})", [*params, *(f"$.{key}" for key in self.keys)]


def audit_pseudonymise(*, user_id: int, pseudonym: int) -> None:
    """An erasure: the entries about the user, and those of what they did to others (as an
    admin), keep what was done and when, but no longer who: the user's id becomes the
    pseudonym, and the client's address and agent and the request id (which leads to the
    logs) are cleared. Two statements, however long the user's trail."""
    anonymous = {"client_ip": None, "user_agent": "", "request_id": ""}
    by_them = AuditEntry.objects.filter(actor_id=user_id).exclude(subject_id=user_id)
    by_them.pseudonymise(actor_id=pseudonym, **anonymous)
    AuditEntry.objects.filter(subject_id=user_id).pseudonymise(
        subject_id=pseudonym,
        actor_id=Case(
            When(actor_id=user_id, then=Value(pseudonym)),
            default=F("actor_id"),
            output_field=BigIntegerField(),
        ),
        details=_WithoutKeys(F("details"), PERSONAL_DETAILS),
        **anonymous,
    )


def audit_purge(*, occurred_before: datetime) -> Iterator[int]:
    """Deletes entries older than the retention (batch counts, as they go)."""
    return delete_in_batches(AuditEntry.objects.filter(occurred_at__lt=occurred_before))
