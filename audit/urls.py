from django.urls import path

from audit import views

urlpatterns = [
    path("user/audit", views.AuditView.as_view()),
]
