from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from restapi.fields import StrictCharField


@extend_schema_field(
    {
        "anyOf": [
            {"type": "object"},
            {"type": "array", "items": {}},
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
        ],
        "description": "any JSON value but null",
    }
)
class MessageValueField(serializers.JSONField):
    """A message's value: any JSON but null, which the field refuses."""


class PublishInput(serializers.Serializer[None]):
    topic = StrictCharField(max_length=249)
    key = StrictCharField(max_length=255, required=False)
    value = MessageValueField()
    headers = serializers.DictField(child=StrictCharField(max_length=1024), required=False)
