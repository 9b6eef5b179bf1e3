from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth.serializers import LoginInput
from auth.services import user_login
from auth.tokens import access_token_for
from users.serializers import UserOutput


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_login(**data.validated_data)
        body = {**UserOutput(user).data, "token": access_token_for(user), "msg": "success"}
        return Response(body, status=status.HTTP_201_CREATED)
