from typing import Any

from rest_framework.request import Request
from rest_framework.serializers import Serializer


def valid(serializer_class: type[Serializer[Any]], request: Request) -> dict[str, Any]:
    """The request body checked by an input serializer (a 400 with field errors otherwise)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data  # type: ignore[no-any-return]
