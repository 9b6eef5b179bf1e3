from django.urls import path

from privacy import views

urlpatterns = [
    path("user/export", views.ExportView.as_view()),
    path("user/export/<uuid:export_id>", views.ExportDetailView.as_view()),
    path("user/erase", views.EraseView.as_view()),
]
