"""Input fields. Every text field of an input serializer is a StrictCharField (or the
StrictEmailField built on it): DRF's CharField turns a JSON number into a string, so
`"encoding": 0` was stored as "0"."""

from typing import Any

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: a number or a boolean is a 400."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictEmailField(StrictCharField, serializers.EmailField):
    pass
