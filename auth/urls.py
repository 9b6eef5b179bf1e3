from django.urls import path

from auth import views

urlpatterns = [
    path("login/refresh", views.RefreshView.as_view()),
    path("logout", views.LogoutView.as_view()),
    path("logout/all", views.LogoutAllView.as_view()),
    path("user/sessions", views.SessionListView.as_view()),
    path("user/sessions/<uuid:session_id>", views.SessionDetailView.as_view()),
    path(".well-known/jwks.json", views.JwksView.as_view()),
    path(".well-known/openid-configuration", views.OpenIdConfigurationView.as_view()),
]
