from rest_framework import serializers

from auth.models import Session
from restapi.fields import StrictCharField


class RefreshInput(serializers.Serializer[None]):
    refresh = StrictCharField(max_length=200)


class SessionOutput(serializers.Serializer[Session]):
    session_id = serializers.UUIDField(source="pk")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    client_ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    current = serializers.SerializerMethodField()

    def get_current(self, session: Session) -> bool:
        return str(session.pk) == str(self.context["current_session"])
