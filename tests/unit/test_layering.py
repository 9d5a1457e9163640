"""The layering rules of architecture.md §5.1, checked on the import graph.

Lower layers never import higher ones: codecs import nothing of porthole but codecs;
services and the engine never import the report or CLI layers. Checked on each
module's own import statements (AST), so a cycle or an upward import fails here with
the module and the import named, before it shows up as an ImportError at start-up.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import porthole

ROOT = Path(porthole.__file__).parent

FORBIDDEN = {
    "porthole.codecs": ("porthole.net", "porthole.engine", "porthole.services", "porthole.report", "porthole.cli", "porthole.audit"),
    "porthole.net": ("porthole.engine", "porthole.services", "porthole.report", "porthole.cli", "porthole.audit"),
    "porthole.services": ("porthole.report", "porthole.cli", "porthole.audit"),
    "porthole.engine": ("porthole.report", "porthole.cli", "porthole.audit"),
    "porthole.grading": ("porthole.engine", "porthole.services", "porthole.report", "porthole.cli"),
}


def porthole_modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages([str(ROOT)], prefix="porthole.")]


def imports_of(module_name: str) -> set[str]:
    spec = importlib.util.find_spec(module_name)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module_name", porthole_modules())
def test_no_module_imports_a_layer_above_its_own(module_name):
    for layer, forbidden in FORBIDDEN.items():
        if module_name == layer or module_name.startswith(layer + "."):
            upward = sorted(name for name in imports_of(module_name) if name.startswith(forbidden))
            assert upward == [], f"{module_name} imports {upward}, above its layer {layer}"


def test_every_module_imports_on_its_own():
    # A module that imports only in one particular order hides a cycle. In one fresh
    # interpreter, forget every porthole module before importing the next one, so each
    # import starts from nothing of porthole (third-party modules stay cached: fast).
    import subprocess
    import sys

    # Every top-level module and package (porthole.engine, porthole.services, ...) is
    # an entry point where a cycle shows; deeper modules are reached through them.
    entry_points = ["porthole", *(name for name in porthole_modules() if name.count(".") == 1)]
    script = (
        "import importlib, sys\n"
        f"names = {entry_points!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m == 'porthole' or m.startswith('porthole.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
