"""Content negotiation that does none: every view answers in its first renderer's format
(JSON for the API; the docs views have their own). Parsing the Accept header of every
request for a service that speaks JSON only cost a tenth of a read, and a client that
asks for something else gets JSON rather than a 406 (RFC 9110 allows either)."""

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class FirstRenderer(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type
