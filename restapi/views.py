from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.serializers import Serializer

from restapi.pagination import Page

if TYPE_CHECKING:
    from auth.tokens import AccessToken
    from users.models import User


class AuthenticatedRequest(Request):
    """What a view behind IsAuthenticated gets: our user and the verified access token."""

    user: "User"  # type: ignore[assignment]
    auth: "AccessToken"


def page_body(
    items_field: str, page: Page[Any], serializer_class: type[Serializer[Any]]
) -> dict[str, Any]:
    return {
        items_field: serializer_class(page.items, many=True).data,
        "next_cursor": page.next_cursor,
        "msg": "success",
    }


def valid(serializer_class: type[Serializer[Any]], request: Request) -> dict[str, Any]:
    """The request body checked by an input serializer (a 400 with field errors otherwise)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data  # type: ignore[no-any-return]
