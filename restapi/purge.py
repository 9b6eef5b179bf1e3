from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

# Rows per DELETE: each batch is its own short statement, so a large backlog neither
# holds locks for long nor hides how far the purge has got.
BATCH_ROWS = 5000


def delete_in_batches(rows: QuerySet[Any]) -> Iterator[int]:
    """Deletes these rows a batch at a time, yielding each batch's count."""
    while True:
        batch = rows.model._default_manager.filter(pk__in=rows.values("pk")[:BATCH_ROWS])
        count, _ = batch.delete()
        if not count:
            return
        yield count
