"""Who sent a request: the client's address and user agent, as the rate limits, sessions
and logs record them."""

import ipaddress
from typing import TypedDict

from django.conf import settings
from django.http import HttpRequest

# As much of a user agent as sessions and the audit trail keep.
USER_AGENT_MAX = 256


class Origin(TypedDict):
    client_ip: str
    user_agent: str


def client_ip(request: HttpRequest) -> str:
    """The socket's address, or the one TRUSTED_PROXY_COUNT proxies in front of us saw;
    "" if that is no address (a proxy passes on whatever a client put in the header, and
    an address column would refuse it)."""
    found = str(request.META.get("REMOTE_ADDR", ""))
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= trusted:
            found = hops[-trusted]
    try:
        return str(ipaddress.ip_address(found))
    except ValueError:
        return ""


def request_origin(request: HttpRequest) -> Origin:
    """The client's address and user agent, as a session and the audit trail record them."""
    return {
        "client_ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
    }
