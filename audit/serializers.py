from rest_framework import serializers

from audit.models import AuditEntry
from restapi.fields import StrictCharField, db_id_field


class AuditQueryInput(serializers.Serializer[None]):
    """GET /user/audit's query parameters."""

    type = StrictCharField(max_length=64, required=False, help_text="only this action")
    since = serializers.DateTimeField(required=False, help_text="at or after (ISO 8601)")
    until = serializers.DateTimeField(required=False, help_text="before (ISO 8601)")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    cursor = StrictCharField(max_length=200, required=False)
    user_id = db_id_field(required=False, help_text="another user's entries (admins only)")


class AuditEntryOutput(serializers.Serializer[AuditEntry]):
    id = serializers.IntegerField()
    action = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor_kind = serializers.CharField()
    client_ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    request_id = serializers.CharField()
    details = serializers.DictField()
