"""Every Lua script is a module-level LuaScript (loaded once per process), is refused whole when
Redis cannot take writes (`#!lua`, flags allowed), and names no key literally: keys come through KEYS or
keys.SCRIPT_PREFIXES."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import voicepipe
from voicepipe.engine.lua import LuaScript

SKIP = ("voicepipe.__main__",)


def _scripts() -> dict[str, LuaScript]:
    found = {}
    for module_info in pkgutil.walk_packages(voicepipe.__path__, "voicepipe."):
        if module_info.name in SKIP:
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if isinstance(value, LuaScript):
                found[f"{module_info.name}.{name}"] = value
    return found


SCRIPTS = _scripts()


def test_the_engine_scripts_are_found() -> None:
    names = {name.rsplit(".", 1)[1] for name in SCRIPTS}
    assert {"ENQUEUE", "CLAIM", "FINISH", "PUT_BACK", "_RELEASE", "_PURGE"} <= names


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_a_script_is_refused_whole_when_redis_cannot_write(name: str) -> None:
    assert re.match(r"#!lua( flags=[\w,-]+)?\n", SCRIPTS[name].source)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_a_script_names_no_key_literally(name: str) -> None:
    literal = re.search(r"""['"](arq|voicepipe):""", SCRIPTS[name].source)
    assert literal is None, f"{name} spells out a key: {literal.group(0) if literal else ''}"


def test_no_module_registers_scripts_per_call() -> None:
    from pathlib import Path

    package = Path(voicepipe.__file__).parent
    callers = [
        str(p.relative_to(package)) for p in package.rglob("*.py")
        if "register_script(" in p.read_text()
    ]  # fmt: skip
    assert callers == []
