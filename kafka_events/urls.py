from django.urls import path

from kafka_events.views import EventSchemaView, PublishView, SchemaIndexView

urlpatterns = [
    path("kafka/publish", PublishView.as_view()),
    path("events/schemas", SchemaIndexView.as_view()),
    path("events/schemas/<str:event_type>/v<int:version>.json", EventSchemaView.as_view()),
]
