"""Layers point one way: domain <- db, engine, audio <- history <- services <- tasks <- web, worker
<- cli; bench drives the layers below it, and embedded (servers, supervisor) stands apart. The
adapters to the outside (mail, webhooks, push) are used by services only."""

from __future__ import annotations

import ast
from pathlib import Path

import voicepipe

PACKAGE = Path(voicepipe.__file__).parent

# What each layer may import from voicepipe. Shared modules (settings, errors, keys, resources,
# logs) sit below every layer; domain is pure and may use only voicepipe.errors.
SHARED = {"settings", "errors", "keys", "resources", "logs", "paths", "__init__"}
BELOW_HISTORY = {"engine", "db", "audio", "domain"} | SHARED
BELOW_SERVICES = {"history"} | BELOW_HISTORY
ADAPTERS = {"mail", "webhooks", "push"}  # to the outside; the notification channels use them
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain", "errors"},
    "db": {"db", "domain"} | SHARED,
    "audio": {"audio", "domain", "errors"},
    "mail": {"mail", "domain", "errors", "paths"},
    "webhooks": {"webhooks", "errors"},
    "push": {"push", "webhooks", "errors"},  # webhooks: its SSRF guard vets push endpoints
    "engine": {"engine", "domain"} | SHARED,
    "embedded": {"embedded"} | SHARED,
    "history": BELOW_SERVICES,
    "services": {"services"} | ADAPTERS | BELOW_SERVICES,
    "tasks": {"tasks", "services"} | BELOW_SERVICES,
    "web": {"web", "tasks", "services"} | BELOW_SERVICES,
    "worker": {"worker", "tasks", "services"} | BELOW_SERVICES,
    "bench": {"bench", "tasks", "services", "embedded"} | BELOW_SERVICES,
}
SHARED_ALLOWED = {"errors", "settings", "keys", "__init__"}
THIRD_PARTY_IN_DOMAIN = {"numpy", "pydantic"}


def _imports(path: Path) -> set[str]:
    """Every voicepipe module `path` imports, `from voicepipe import x` counted as voicepipe.x."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "voicepipe":  # a module of the package, or a name of its __init__
                found |= {f"voicepipe.{_module_or_init(alias.name)}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def _module_or_init(name: str) -> str:
    is_module = (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()
    return name if is_module else "__init__"


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _violations(allowed_for: dict[str, set[str]]) -> list[str]:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        layer = _layer(path)
        allowed = allowed_for.get(layer, SHARED_ALLOWED if layer in SHARED else None)
        if allowed is None:
            continue  # cli and __main__ may import anything
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "voicepipe" and len(parts) > 1 and parts[1] not in allowed:
                violations.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return violations


def test_layers_import_only_downwards() -> None:
    violations = _violations(ALLOWED)
    assert not violations, "\n".join(violations)


def test_every_package_is_a_known_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages - {"cli"} <= set(ALLOWED)


def test_the_check_sees_from_voicepipe_imports() -> None:
    """`from voicepipe import history` in the engine is caught like `import voicepipe.history`."""
    narrowed = {**ALLOWED, "engine": {"engine"}}
    assert any("imports voicepipe.keys" in v for v in _violations(narrowed))


def test_task_bodies_and_the_task_registry_have_different_names() -> None:
    assert (PACKAGE / "tasks").is_dir() and not (PACKAGE / "engine" / "tasks.py").exists()
    assert (PACKAGE / "engine" / "registry.py").exists()


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
