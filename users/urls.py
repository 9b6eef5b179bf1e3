from django.urls import path

from users.views import UserDetailView, UserSearchView, UserView

urlpatterns = [
    path("user", UserView.as_view()),
    path("user/search", UserSearchView.as_view()),
    path("user/<int:user_id>", UserDetailView.as_view()),
]
