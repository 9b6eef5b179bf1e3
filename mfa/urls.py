from django.urls import path

from mfa import views

urlpatterns = [
    path("user/mfa", views.FactorsView.as_view()),
    path("user/mfa/totp", views.TotpView.as_view()),
    path("user/mfa/totp/confirm", views.TotpConfirmView.as_view()),
    path("user/mfa/recovery-codes", views.RecoveryCodesView.as_view()),
    path("user/mfa/passkeys", views.PasskeysView.as_view()),
    path("user/mfa/passkeys/options", views.PasskeyOptionsView.as_view()),
    path("user/mfa/passkeys/<int:passkey_id>", views.PasskeyDetailView.as_view()),
]
