"""Layers point one way: domain <- db/audio <- services <- tasks <- web, worker <- cli."""

from __future__ import annotations

import ast
from pathlib import Path

import voicepipe

PACKAGE = Path(voicepipe.__file__).parent

# What each layer may import from voicepipe. Shared modules (settings, errors, keys, resources,
# logs) sit below services; domain is pure and may use only voicepipe.errors.
SHARED = {"settings", "errors", "keys", "resources", "logs", "__init__"}
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain", "errors"},
    "db": {"db", "domain"} | SHARED,
    "audio": {"audio", "domain", "errors"},
    "embedded": {"embedded"} | SHARED,
    "services": {"services", "db", "audio", "domain"} | SHARED,
    "tasks": {"tasks", "services", "db", "audio", "domain"} | SHARED,
    "web": {"web", "tasks", "services", "db", "audio", "domain"} | SHARED,
    "worker": {"worker", "tasks", "services", "db", "audio", "domain"} | SHARED,
}
SHARED_ALLOWED = {"errors", "settings", "keys", "__init__"}
THIRD_PARTY_IN_DOMAIN = {"numpy", "pydantic"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_layers_import_only_downwards() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        layer = _layer(path)
        allowed = ALLOWED.get(layer, SHARED_ALLOWED if layer in SHARED else None)
        if allowed is None:
            continue  # cli and __main__ may import anything
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "voicepipe" and len(parts) > 1 and parts[1] not in allowed:
                violations.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not violations, "\n".join(violations)


def test_domain_uses_only_stdlib_numpy_and_pydantic() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    violations = []
    for path in (PACKAGE / "domain").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top not in stdlib | THIRD_PARTY_IN_DOMAIN | {"voicepipe"}:
                violations.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not violations, "\n".join(violations)


def test_only_settings_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    ]
    assert readers == ["settings.py"]
