"""JSON request bodies, refused when nested deeper than JSON_MAX_DEPTH.

CPython's JSON parser recurses once per level: a 2 KB body of 1,000 `[` is a
RecursionError (a 500), and nesting it does accept still makes every later step recurse
(validation, `json.dumps` of a Kafka value). So the depth is measured on the raw bytes
first, with C-speed bytes operations and no parse: at most ~35 ms for a 1 MiB body,
less than parsing the costliest body that passes.
"""

import codecs
import gc
import json
from array import array
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

from restapi.exceptions import JsonTooDeep

_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
# Only the nesting counts, not which kind: objects and arrays become one bracket pair.
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
# As signed bytes: +1 opens a level, -1 closes one.
_STEPS = bytes.maketrans(b"[]", b"\x01\xff")


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether UTF-8 JSON text nests arrays and objects more than `limit` levels deep.

    Strings are cut out (brackets in them do not nest); the depth is then the highest
    running sum of +1 per opening and -1 per closing bracket. Text that is not JSON may
    get either answer; the parser refuses it anyway.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        # After escaped backslashes, every remaining `\"` is a quote inside a string.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(body.split(b'"')[::2])
    brackets = outside_strings.translate(_ONE_KIND, _NOT_BRACKETS)
    if b"[" * (limit + 1) in brackets:
        return True
    # The deepest points are innermost pairs: dropping every `[]` (one level, in one
    # C-speed pass) leaves less to add up.
    rest = brackets.replace(b"[]", b"")
    return 1 + max(accumulate(array("b", rest.translate(_STEPS))), default=0) > limit


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A parse makes no reference cycles, but its allocations set off the cyclic garbage
    collector, whose full runs walk the whole process: a 1 MiB body of 500,000 small
    arrays took ~0.5 s with it, 50 ms without. Overlapping threads only shorten the pause
    for one another; whoever paused a running collector restarts it."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the depth limit. Subclasses with another `media_type` parse
    other labels of the same JSON bodies."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        body = stream.read()
        try:
            text = body.decode(encoding)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        utf8 = body if codecs.lookup(encoding).name == "utf-8" else text.encode()
        if nested_deeper_than(utf8, settings.JSON_MAX_DEPTH):
            raise JsonTooDeep()
        try:
            with _collector_paused():
                return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except RecursionError:
            # Only unbalanced text gets here (balanced text was measured above).
            raise JsonTooDeep() from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
