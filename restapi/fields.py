"""Input fields. Every text field of an input serializer is a StrictCharField (or the
StrictEmailField built on it): DRF's CharField turns a JSON number into a string, so
`"encoding": 0` was stored as "0"."""

from typing import Any

from rest_framework import serializers

from restapi.pagination import MAX_DB_ID


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: a number or a boolean is a 400.

    The string is taken as sent (never trimmed), and a field that may not be blank says
    so in the schema (`minLength: 1`): what the schema accepts is what the field accepts.
    """

    default_error_messages = {"not_a_string": "Must be a string."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        if not kwargs.get("allow_blank", False):
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictEmailField(StrictCharField, serializers.EmailField):
    pass


def db_id_field(**kwargs: Any) -> serializers.IntegerField:
    """A database id (a user's, a file's): what the id columns can hold, nothing else."""
    return serializers.IntegerField(min_value=1, max_value=MAX_DB_ID, **kwargs)
