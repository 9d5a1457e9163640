"""Architecture rule 1: ``porthole.codecs`` is pure (no sockets, no clocks, no randomness).

Every module under the package is discovered with pkgutil, so a codec added later is
checked without anyone editing this file. The check reads each module's own source
(AST), so what the standard library imports behind the scenes does not count, while
an import hidden inside a function does.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil

import pytest

import porthole.codecs

FORBIDDEN = frozenset({"asyncio", "socket", "ssl", "time", "random"})


def codec_module_names() -> list[str]:
    package = porthole.codecs
    return [package.__name__] + sorted(info.name for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."))


def imported_top_level_names(source: str) -> set[str]:
    """First component of every module the source imports (``a.b.c`` → ``a``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_discovery_finds_the_known_codecs() -> None:
    # Guards the guard: if discovery found nothing, the parametrized test would pass vacuously
    assert {"porthole.codecs.dns", "porthole.codecs.ssdp", "porthole.codecs.v2gtp", "porthole.codecs._errors"} <= set(codec_module_names())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import socket", {"socket"}),
        ("import asyncio.streams as s", {"asyncio"}),
        ("from time import monotonic", {"time"}),
        ("def now():\n    import random\n    return random.random()", {"random"}),
        ("from . import dns\nfrom ._errors import CodecError", set()),
        ("import struct, ipaddress", {"struct", "ipaddress"}),
    ],
)
def test_import_scanner_sees_every_import_form(source: str, expected: set[str]) -> None:
    assert imported_top_level_names(source) == expected


@pytest.mark.parametrize("module_name", codec_module_names())
def test_codec_module_imports_no_io_clock_or_randomness(module_name: str) -> None:
    # Given a codec module, imported for real (so it also has to import cleanly)
    module = importlib.import_module(module_name)
    # When its own import statements are read
    imported = imported_top_level_names(inspect.getsource(module))
    # Then none of them brings in sockets, event loops, TLS, clocks or randomness:
    # time and transaction ids must be arguments (architecture.md §5.1 rule 1)
    assert not imported & FORBIDDEN, f"{module_name} imports {sorted(imported & FORBIDDEN)}; pass these in as arguments instead"
