from django.db import migrations

# A trigram index makes the substring search on email fast on millions of users. It is
# PostgreSQL only; the SQLite first-run fallback searches without it.
CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS users_email_trgm ON users USING gin (email gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS users_email_trgm"]


def run(statements: list[str]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [migrations.RunPython(run(CREATE), run(DROP))]
