from django.http import HttpRequest, JsonResponse
from django.urls import path


def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"msg": "hello"})


urlpatterns = [path("hello", hello)]
