from rest_framework import serializers

from restapi.fields import StrictCharField


class PublishInput(serializers.Serializer[None]):
    topic = StrictCharField(max_length=249)
    key = StrictCharField(max_length=255, required=False)
    value = serializers.JSONField()
    headers = serializers.DictField(child=StrictCharField(max_length=1024), required=False)
