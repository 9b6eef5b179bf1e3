"""The events' contract: one JSON Schema per event type and version, in
kafka_events/schemas/{type}.v{version}.json, served at /events/schemas.

A published version never changes: a change to what an event carries is a new file with
the next version, and the service emits the newest version of each type (the envelope's
`schema_version`). The older files stay, for consumers that have not moved yet."""

import json
import re
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
FILE_NAME = re.compile(r"(?P<type>[a-z_]+(\.[a-z_]+)+)\.v(?P<version>[1-9][0-9]*)\.json")


def _load() -> dict[str, dict[int, dict[str, Any]]]:
    schemas: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        match = FILE_NAME.fullmatch(path.name)
        if match is None:
            raise ImproperlyConfigured(f"{path} is not named {{type}}.v{{version}}.json")
        schemas.setdefault(match["type"], {})[int(match["version"])] = json.loads(path.read_text())
    return schemas


# type → version → the schema, as the files hold it.
SCHEMAS = _load()


def schema_version(event_type: str) -> int:
    """The version of `event_type` this service emits. A KeyError for a type without a
    schema: an event is not sent before its contract is written."""
    return max(SCHEMAS[event_type])


def schema_path(event_type: str, version: int) -> str:
    return f"/events/schemas/{event_type}/v{version}.json"
