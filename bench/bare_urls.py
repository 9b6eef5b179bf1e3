from django.http import HttpRequest, JsonResponse
from django.urls import path


def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user_id": 1, "email": "bench@example.com", "msg": "success"})


urlpatterns = [path("hello", hello)]
