"""What views do with serializers: check a request body, shape an instance, a page."""

from functools import cache
from typing import Any

from rest_framework.request import Request
from rest_framework.serializers import Serializer

from restapi.pagination import Page


@cache
def _renderer(serializer_class: type[Serializer[Any]]) -> Serializer[Any]:
    return serializer_class()


def shaped(serializer_class: type[Serializer[Any]], instance: Any) -> dict[str, Any]:
    """An instance as an output serializer shows it. One serializer per class serves every
    request (rendering keeps no state in it): DRF would otherwise copy each of its fields
    for every object rendered, as much work as the rest of a read."""
    return dict(_renderer(serializer_class).to_representation(instance))


def with_msg(body: dict[str, Any], msg: str) -> dict[str, Any]:
    body["msg"] = msg
    return body


def page_body(
    items_field: str, page: Page[Any], serializer_class: type[Serializer[Any]], *, item_msg: str
) -> dict[str, Any]:
    """A page of search results. Each item has a `msg` of its own, as the Rust service's
    had: its response types require one, so clients built on them can read the page."""
    return {
        items_field: [with_msg(shaped(serializer_class, item), item_msg) for item in page.items],
        "next_cursor": page.next_cursor,
        "msg": "success",
    }


def validated(serializer_class: type[Serializer[Any]], request: Request) -> dict[str, Any]:
    """The request body checked by an input serializer (a 400 with field errors otherwise)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data  # type: ignore[no-any-return]
