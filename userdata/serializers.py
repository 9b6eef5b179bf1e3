from rest_framework import serializers

from restapi.fields import StrictCharField, db_id_field
from userdata.models import UserFile


class DataOutput(serializers.Serializer[UserFile]):
    """The Rust service's DataRecord."""

    data_id = serializers.IntegerField(source="pk")
    user_id = serializers.IntegerField()
    filename = serializers.CharField()
    data_type = serializers.CharField()
    size_in_bytes = serializers.IntegerField()
    comments = serializers.CharField()
    encoding = serializers.CharField()
    sloc = serializers.CharField()
    sha256 = serializers.CharField(
        help_text="hex SHA-256; empty for a file imported from the Rust service until "
        "manage.py import_seed --hash-files has read it"
    )
    content_type = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DataMessage(DataOutput):
    """A data record with a `msg` of its own: the Rust service's upload answer (at the top
    level) and its ModelUserData (in update and search answers)."""

    msg = serializers.CharField()


class UploadHeaders(serializers.Serializer[None]):
    """The metadata an upload carries in headers (the body is the file)."""

    filename = StrictCharField(min_length=1, max_length=255, trim_whitespace=False)
    data_type = StrictCharField(max_length=128, required=False, allow_blank=True, default="")
    encoding = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    comments = StrictCharField(max_length=1024, required=False, allow_blank=True, default="")
    user_id = db_id_field(required=False)
    content_type = serializers.RegexField(
        r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*$", max_length=255
    )


class DataUpdateInput(serializers.Serializer[None]):
    data_id = db_id_field()
    filename = StrictCharField(min_length=1, max_length=255, trim_whitespace=False, required=False)
    data_type = StrictCharField(max_length=128, required=False, allow_blank=True)
    comments = StrictCharField(max_length=1024, required=False, allow_blank=True)
    encoding = StrictCharField(max_length=64, required=False, allow_blank=True)


class DataSearchInput(serializers.Serializer[None]):
    user_id = db_id_field(required=False)
    data_id = db_id_field(required=False)
    filename = StrictCharField(max_length=255, required=False, allow_blank=True)
    data_type = StrictCharField(max_length=128, required=False, allow_blank=True)
    comments = StrictCharField(max_length=1024, required=False, allow_blank=True)
    encoding = StrictCharField(max_length=64, required=False, allow_blank=True)
    above_bytes = serializers.IntegerField(min_value=0, required=False)
    below_bytes = serializers.IntegerField(min_value=0, required=False)
    # The Rust service answered the newest 100 matches; the first page is the same.
    limit = serializers.IntegerField(min_value=1, max_value=100, default=100)
    cursor = StrictCharField(max_length=200, required=False)
