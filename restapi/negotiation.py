"""Content negotiation for an API that speaks JSON.

Responses: none. Every view answers in its first renderer's format (JSON for the API; the
docs views have their own). Parsing the Accept header of every request for a service that
speaks JSON only cost a tenth of a read, and a client that asks for something else gets
JSON rather than a 406 (RFC 9110 allows either).

Request bodies: JSON, whatever most clients label it. `curl -d` (the Rust service's own
guide, and most curl users) labels a body as form data, fetch() with a string body as
text/plain, and some clients send no label at all; the Rust service read every body as
JSON. So do the views that parse JSON here, with three limits:

- other labels (multipart, XML, ...) stay a 415, and a body that is not JSON is a 400
  `malformed_json` whatever its label: nothing is ever parsed as a form;
- never for a view that authenticates with a cookie (the docs, for the admin site's
  login): a form post from another site must never ride a browser's session;
- never for a request a browser sends from another site (Fetch Metadata, or an Origin):
  a cross-site form or a no-cors fetch can send exactly these labels without a CORS
  preflight, and they stay a 415 for it as before.

Why this is safe: every other view authenticates with a bearer token, which a browser
never adds by itself, and the service sends no CORS headers, so a browser lets no other
site's page send one. A form post from another site reaches only the unauthenticated
routes, and the last limit refuses it there too.
"""

from collections.abc import Iterable

from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from restapi.parsers import JSONParser

# The labels read as JSON besides application/json ("" is a body without Content-Type).
JSON_ALSO = frozenset({"application/x-www-form-urlencoded", "text/plain", ""})
# Sec-Fetch-Site of a request made by this origin's own pages, or typed by the user.
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


def from_another_site(request: Request) -> bool:
    """Whether a browser says it sends this request for a page of another origin. One too
    old for Fetch Metadata still sends Origin on a POST; this origin's own pages (the docs)
    label their JSON application/json."""
    site = request.META.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site not in SAME_SITE_FETCHES
    return "HTTP_ORIGIN" in request.META


def reads_json_despite_label(request: Request) -> bool:
    label = request.content_type.split(";", 1)[0].strip().lower()
    return (
        label in JSON_ALSO
        and not from_another_site(request)
        and not any(isinstance(a, SessionAuthentication) for a in request.authenticators or ())
    )


class JsonNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        parsers = list(parsers)
        parser = super().select_parser(request, parsers)
        if parser is None and reads_json_despite_label(request):
            return next((p for p in parsers if isinstance(p, JSONParser)), None)
        return parser
