from rest_framework import serializers


class PublishInput(serializers.Serializer[None]):
    topic = serializers.CharField(max_length=249)
    key = serializers.CharField(max_length=255, required=False)
    value = serializers.JSONField()
    headers = serializers.DictField(child=serializers.CharField(max_length=1024), required=False)
