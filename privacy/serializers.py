from rest_framework import serializers

from privacy.models import Erasure, Export
from restapi.fields import StrictCharField, db_id_field


class ExportOutput(serializers.Serializer[Export]):
    export_id = serializers.UUIDField(source="pk")
    state = serializers.CharField(help_text="pending, running, ready or failed")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    files_total = serializers.IntegerField()
    files_done = serializers.IntegerField()
    bytes_total = serializers.IntegerField()
    bytes_done = serializers.IntegerField()
    size_in_bytes = serializers.IntegerField(allow_null=True, help_text="of the archive")


class ExportMessage(ExportOutput):
    msg = serializers.CharField()


class EraseInput(serializers.Serializer[None]):
    user_id = db_id_field(required=False, help_text="another user (admins only); default: you")
    current_password = StrictCharField(max_length=1024, required=False)


class ErasureOutput(serializers.Serializer[Erasure]):
    user_id = serializers.IntegerField()
    state = serializers.CharField(help_text="scheduled, running or done")
    requested_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(help_text="when the account is deleted for good")


class ErasureMessage(ErasureOutput):
    msg = serializers.CharField()
