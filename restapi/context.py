"""Who is behind the current request, for the audit trail: the client's address and user
agent, the request id and, once known, the authenticated actor. No Django imports.

RequestIdMiddleware sets it for each request and resets it after, so nothing of a request
stays on its worker thread for the next one; an actor set meanwhile (auth's JWT
authentication, the admin's session) goes with that reset too. Outside a request (a
command, a test calling a service) there is none. restapi.background runs its jobs in
the submitting request's context, so they see it too.
"""

from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RequestContext:
    client_ip: str
    user_agent: str
    request_id: str
    # The user a JWT or the admin's login authenticated, if any.
    actor_id: int | None = None
    actor_is_admin: bool = False


REQUEST_CONTEXT: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def actor_set(*, actor_id: int, is_admin: bool) -> None:
    """The request's authenticated user; undone with the request's context."""
    current = REQUEST_CONTEXT.get()
    if current is not None:
        REQUEST_CONTEXT.set(replace(current, actor_id=actor_id, actor_is_admin=is_admin))
