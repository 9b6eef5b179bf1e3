"""Development's SQLite fallback (restapi/settings/database.py), as a database backend."""
