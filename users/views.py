from typing import Any

from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth.tokens import access_token_for
from users import selectors, services
from users.serializers import (
    UserCreateInput,
    UserIdInput,
    UserOutput,
    UserSearchInput,
    UserUpdateInput,
)


def valid(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data  # type: ignore[no-any-return]


class UserView(APIView):
    """POST registers (no auth); PUT updates and DELETE deactivates (JWT)."""

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_authenticators(self) -> list[Any]:
        return [] if self.request.method == "POST" else super().get_authenticators()

    def post(self, request: Request) -> Response:
        user = services.user_create(**valid(UserCreateInput, request))
        body = {**UserOutput(user).data, "token": access_token_for(user), "msg": "success"}
        return Response(body, status=status.HTTP_201_CREATED)

    def put(self, request: Request) -> Response:
        data = valid(UserUpdateInput, request)
        user = selectors.user_get_for_actor(actor=request.user, user_id=data.pop("user_id"))
        user = services.user_update(actor=request.user, user=user, **data)
        return Response({**UserOutput(user).data, "msg": "success"})

    def delete(self, request: Request) -> Response:
        data = valid(UserIdInput, request)
        user = selectors.user_get_for_actor(actor=request.user, user_id=data["user_id"])
        services.user_deactivate(user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserDetailView(APIView):
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get_for_actor(actor=request.user, user_id=user_id)
        return Response({**UserOutput(user).data, "msg": "success"})


class UserSearchView(APIView):
    def post(self, request: Request) -> Response:
        page = selectors.user_search(actor=request.user, **valid(UserSearchInput, request))
        return Response(
            {
                "users": UserOutput(page.users, many=True).data,
                "next_cursor": page.next_cursor,
                "msg": "success",
            }
        )
