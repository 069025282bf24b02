"""arq's sdist in the cache, unpacked into a runnable copy of its tests folder."""

from __future__ import annotations

import ast
import tarfile
import tomllib
from pathlib import Path

ARQ_VERSION = "0.28.0"
ROOT = Path(__file__).resolve().parent.parent.parent
CACHE = ROOT / ".cache" / "arq-sdist"
SDIST_NAME = f"arq-{ARQ_VERSION}.tar.gz"

# arq's conftest is kept byte for byte as tests/arq_conftest.py; this one takes its place.
# testcontainers (arq's Docker Redis) is stubbed so that arq's conftest imports without it.
CONFTEST = '''\
"""arq's tests/conftest.py, kept unchanged as arq_conftest.py, with the fixtures that reach Redis
and build the Worker replaced by arq_suite_support.fixtures: written by scripts/arq_suite."""

import sys
import types

_stub = types.ModuleType("testcontainers.redis")
_stub.RedisContainer = None
sys.modules.setdefault("testcontainers", types.ModuleType("testcontainers"))
sys.modules.setdefault("testcontainers.redis", _stub)

from arq_suite_support import fixtures as _ours  # noqa: E402

from . import arq_conftest as _arq  # noqa: E402

globals().update(
    {n: v for n, v in vars(_arq).items() if not n.startswith("__") and n not in _ours.REPLACED}
)
globals().update({n: getattr(_ours, n) for n in _ours.REPLACED})
'''


class SdistMissing(Exception):
    """arq's sdist is not in the cache: scripts/setup --test puts it there."""


def find_sdist(cache: Path = CACHE) -> Path:
    path = cache / SDIST_NAME
    if not path.is_file():
        raise SdistMissing(
            f"arq's source distribution is not in {path.parent}: run scripts/setup --test "
            f"(it runs: pip download --no-binary :all: --no-deps arq=={ARQ_VERSION} -d {cache})"
        )
    return path


def unpack(sdist: Path, into: Path) -> Path:
    """Unpack arq's tests/ and pyproject.toml under `into`; returns the tests folder, made ready:
    conftest.py swapped for CONFTEST, a pytest.ini made from arq's own pytest settings."""
    top = f"arq-{ARQ_VERSION}/"
    with tarfile.open(sdist) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.name.startswith(top + "tests/") or m.name == top + "pyproject.toml"
        ]
        archive.extractall(into, members=members, filter="data")
    root = into / top
    tests = root / "tests"
    (tests / "conftest.py").rename(tests / "arq_conftest.py")
    (tests / "conftest.py").write_text(CONFTEST)
    (root / "pytest.ini").write_text(pytest_ini(root / "pyproject.toml"))
    return tests


def pytest_ini(pyproject: Path) -> str:
    """arq's [tool.pytest.ini_options] (warnings as errors, asyncio auto mode, 10 s timeout) as an
    ini file, so that the run has arq's settings and not voicepipe's."""
    options = tomllib.loads(pyproject.read_text())["tool"]["pytest"]["ini_options"]
    # what pytest-asyncio 0.23 did without being told (1.x warns, an error under arq's filters)
    options["asyncio_default_fixture_loop_scope"] = "function"
    # arq 0.28 (its conftest and its Worker.close) calls redis-py's close(), deprecated in the
    # redis-py 5 voicepipe runs (arq allows <6; arq's own lock file has 4.6)
    options["filterwarnings"].append("ignore:Call to deprecated close:DeprecationWarning")
    lines = ["[pytest]"]
    for key, value in options.items():
        if isinstance(value, list):
            lines.append(f"{key} =")
            lines.extend(f"    {item}" for item in value)
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def log_line_tests(test_file: Path) -> set[str]:
    """Names of the tests in `test_file` that assert arq's log output (see scripts/arq_suite)."""
    tree = ast.parse(test_file.read_text())
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return {t.name for t in tests if t.name.startswith("test") and _asserts_logs(t)}


def _asserts_logs(test: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if "caplog" not in {a.arg for a in test.args.args}:
        return False
    derived = {"caplog"}
    assigns = [n for n in ast.walk(test) if isinstance(n, ast.Assign)]
    grew = True
    while grew:  # names computed from caplog, or from names computed from it
        grew = False
        for assign in assigns:
            if _names(assign.value) & derived:
                for target in assign.targets:
                    new = _names(target) - derived
                    if new:
                        derived |= new
                        grew = True
    asserts = [n for n in ast.walk(test) if isinstance(n, ast.Assert)]
    return any(_names(a.test) & derived for a in asserts)


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
