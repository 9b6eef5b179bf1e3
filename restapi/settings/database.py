from restapi.env import BASE_DIR, env_int, env_path, env_str

POSTGRES_ENDPOINT = env_str("POSTGRES_ENDPOINT")

if POSTGRES_ENDPOINT:
    _host, _, _port = POSTGRES_ENDPOINT.rpartition(":")
    _options: dict[str, object] = {
        # Django's built-in psycopg 3 pool: one pool per process, shared by its threads.
        "pool": {
            "min_size": env_int("POSTGRES_POOL_MIN_SIZE", 1),
            # Request threads, publisher threads and the mail thread all hold connections.
            "max_size": env_int("POSTGRES_POOL_MAX_SIZE", 20),
            "timeout": env_int("POSTGRES_POOL_TIMEOUT_SECONDS", 10),
        },
        "connect_timeout": env_int("POSTGRES_CONNECT_TIMEOUT_SECONDS", 5),
        # Parameters travel apart from the statement, and psycopg prepares a statement a
        # connection runs often (the session lookup of every request): PostgreSQL then
        # parses and plans it once per connection, not once per request.
        "server_side_binding": True,
    }
    if env_str("POSTGRES_TLS_CA"):
        # Verify the server certificate and its host name; never fall back to plain text.
        _options["sslmode"] = "verify-full"
        _options["sslrootcert"] = str(env_path("POSTGRES_TLS_CA", ""))
        if env_str("POSTGRES_TLS_CERT") and env_str("POSTGRES_TLS_KEY"):
            _options["sslcert"] = str(env_path("POSTGRES_TLS_CERT", ""))
            _options["sslkey"] = str(env_path("POSTGRES_TLS_KEY", ""))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": _host or "127.0.0.1",
            "PORT": _port or "5432",
            # The Rust service's database name; its tables are not this service's.
            "NAME": env_str("DB_NAME", "mydb"),
            "USER": env_str("POSTGRES_USERNAME", "datawriter"),
            "PASSWORD": env_str("POSTGRES_PASSWORD"),
            "OPTIONS": _options,
            "TEST": {"NAME": env_str("DB_TEST_NAME") or None},
        }
    }
else:
    # restapi/sqlite/ makes var/ and prints the "first look only" warning when a
    # process opens the file, not here: importing settings must leave no trace.
    DATABASES = {
        "default": {
            "ENGINE": "restapi.sqlite",
            "NAME": str(BASE_DIR / "var" / "db.sqlite3"),
        }
    }
