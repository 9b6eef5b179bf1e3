from django.urls import path

from userdata import views

urlpatterns = [
    path("user/data", views.DataView.as_view()),
    path("user/data/search", views.DataSearchView.as_view()),
    path("user/data/<int:data_id>", views.DataDetailView.as_view()),
]
