"""The fixtures live in tests/fixtures/, one module per service; plain helpers (PASSWORD,
tokens_for, login...) in tests/helpers.py."""

pytest_plugins = [
    "tests.fixtures.logs",
    "tests.fixtures.keys",
    "tests.fixtures.storage",
    "tests.fixtures.kafka",
    "tests.fixtures.users",
    "tests.fixtures.server",
    "tests.event_contract",
]
