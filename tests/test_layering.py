"""The packages' dependencies point one way, read from the imports themselves (every
import statement, also those inside functions), so a back-edge fails here."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: a package may import only those before it. restapi/ is the base and
# imports no app.
LAYERS = ["restapi", "auth", "mfa", "audit", "users", "userdata", "privacy", "kafka_events"]


def imports(source: str) -> list[tuple[int, str, list[str]]]:
    """Each import statement: its line, the module, and the modules it may name (with
    `from users import views`, users.views)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            found.append((node.lineno, node.module, names))
    return sorted(found)


def back_edges(package: str, path: str, source: str) -> list[str]:
    """What this file of `package` imports against the layering."""
    rank = LAYERS.index(package)
    problems = []
    for line, module, names in imports(source):
        top = module.split(".")[0]
        if top in LAYERS and LAYERS.index(top) > rank:
            problems.append(f"{path}:{line} imports {module}: {top} is above {package}")
        for name in names:
            owner = name.split(".")[0]
            if owner in LAYERS and name.endswith(".views") and path != f"{owner}/urls.py":
                problems.append(f"{path}:{line} imports {name}: only its urls.py may")
    return problems


def test_every_import_points_down():
    problems = []
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            problems += back_edges(package, relative, path.read_text())
    assert problems == []


def test_the_check_finds_a_back_edge_and_a_view_import():
    source = "from users.models import User\n\ndef f():\n    from kafka_events import views\n"
    assert back_edges("auth", "auth/services.py", source) == [
        "auth/services.py:1 imports users.models: users is above auth",
        "auth/services.py:4 imports kafka_events: kafka_events is above auth",
        "auth/services.py:4 imports kafka_events.views: only its urls.py may",
    ]
    assert back_edges("users", "users/urls.py", "from users import views\n") == []
    assert back_edges("restapi", "restapi/urls.py", "import auth.tokens\n") == [
        "restapi/urls.py:1 imports auth.tokens: auth is above restapi"
    ]


def test_every_package_is_type_checked():
    """scripts/test.sh runs mypy on the packages by name: a new one must be among them."""
    [line] = [
        line
        for line in (ROOT / "scripts" / "test.sh").read_text().splitlines()
        if line.startswith('"$BIN/mypy"')
    ]
    assert line.split()[1:] == LAYERS
