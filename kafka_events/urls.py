from django.urls import path

from kafka_events.views import PublishView

urlpatterns = [path("kafka/publish", PublishView.as_view())]
