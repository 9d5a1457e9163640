"""A small lab site of one test module's own: own name, state root, always taken down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab import control
from lab.site import Site, load_site


@contextmanager
def running_own_site(directory: Path, text: str) -> Iterator[Site]:
    """Write ``text`` as ``directory/site.toml``, bring it up with its state under
    ``directory/state``, yield the loaded site, and take it down whatever happens."""
    path = directory / "site.toml"
    path.write_text(text)
    previous = os.environ.get("PORTHOLE_LAB_STATE")
    os.environ["PORTHOLE_LAB_STATE"] = str(directory / "state")
    try:
        control.up(path)
        try:
            yield load_site(path)
        finally:
            control.down(path)
    finally:
        if previous is None:
            os.environ.pop("PORTHOLE_LAB_STATE", None)
        else:
            os.environ["PORTHOLE_LAB_STATE"] = previous
