from rest_framework import serializers

from users.serializers import password_field


class LoginInput(serializers.Serializer[None]):
    # Not validated as an email: a malformed address is just another failed login.
    email = serializers.CharField(max_length=254)
    password = password_field()
