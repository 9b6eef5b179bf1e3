from django.urls import path

from kafka_events.contract import SCHEMAS, schema_path
from kafka_events.views import PublishView, SchemaIndexView, event_schema_view

urlpatterns = [
    path("kafka/publish", PublishView.as_view()),
    path("events/schemas", SchemaIndexView.as_view()),
    *(
        path(schema_path(event_type, version).lstrip("/"), event_schema_view(event_type, version))
        for event_type, versions in SCHEMAS.items()
        for version in versions
    ),
]
