from django.urls import path

from users import views

urlpatterns = [
    path("login", views.LoginView.as_view()),
    path("login/mfa", views.LoginMfaView.as_view()),
    path("login/passkey", views.LoginPasskeyView.as_view()),
    path("login/passkey/options", views.LoginPasskeyOptionsView.as_view()),
    path("user", views.UserView.as_view()),
    path("user/search", views.UserSearchView.as_view()),
    path("user/<int:user_id>", views.UserDetailView.as_view()),
    path("user/verify", views.VerifyView.as_view()),
    path("user/verify/resend", views.VerifyResendView.as_view()),
    path("user/password/reset", views.PasswordResetView.as_view()),
    path("user/password/change", views.PasswordChangeView.as_view()),
]
