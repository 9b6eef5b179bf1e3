"""Who sent a request: the client's address and user agent, as the rate limits, sessions
and logs record them."""

from typing import TypedDict

from django.conf import settings
from django.http import HttpRequest


class Origin(TypedDict):
    client_ip: str
    user_agent: str


def client_ip(request: HttpRequest) -> str:
    """The socket's address, or the one TRUSTED_PROXY_COUNT proxies in front of us saw."""
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= trusted:
            return str(hops[-trusted])
    return str(request.META.get("REMOTE_ADDR", ""))


def request_origin(request: HttpRequest) -> Origin:
    """The client's address and user agent, as a session records them."""
    return {
        "client_ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
    }
