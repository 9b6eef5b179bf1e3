"""Django's SQLite backend, which makes the database file's directory and warns that SQLite
is for a first look only when a process first opens the file. Doing both here rather than
in the settings keeps importing them free of side effects."""

import functools
import sys
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base


@functools.cache
def _warn(path: str) -> None:
    print(
        "WARNING: POSTGRES_ENDPOINT is not set: using the embedded SQLite database "
        f"{path}. This is for a first look only; the service is built, tested "
        "and deployed on PostgreSQL.",
        file=sys.stderr,
    )


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self.is_in_memory_db():
            path = Path(self.settings_dict["NAME"])
            path.parent.mkdir(parents=True, exist_ok=True)
            _warn(str(path))
        return super().get_new_connection(conn_params)
