"""Keyset pagination: newest first by id, with an opaque cursor (no OFFSET scans)."""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet
from rest_framework.exceptions import ValidationError

MAX_DB_ID = 2**63 - 1

T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = json.loads(base64.urlsafe_b64decode(padded.encode()))["id"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValidationError({"cursor": ["Invalid cursor."]}) from exc
    if not isinstance(last_id, int) or not 0 < last_id <= MAX_DB_ID:
        raise ValidationError({"cursor": ["Invalid cursor."]})
    return last_id


def page_of(rows: QuerySet[T], *, limit: int, cursor: str | None) -> Page[T]:
    if cursor:
        rows = rows.filter(pk__lt=decode_cursor(cursor))
    found = list(rows.order_by("-pk")[: limit + 1])
    next_cursor = encode_cursor(found[limit - 1].pk) if len(found) > limit else None
    return Page(items=found[:limit], next_cursor=next_cursor)
