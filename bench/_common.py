"""Helpers shared by the comparison benchmarks that run on a copy of the default lab site.

``bench.sweep`` has its own site (bench/site.toml); ``bench.audit`` and ``bench.tls``
measure against the default lab site (lab/site.toml), brought up under a name of their
own so that a developer's running ``demo`` site is never touched (the same renaming
tests/lab/conftest.py does). The measuring itself (``run_measured``, the packet
capture, ``machine_info``) lives in ``bench.sweep`` and is imported from there.

Contract: the site comes down in ``finally``; only the site this module brought up is
taken down, never one that was already running under that name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab import control
from lab.site import Site, load_site

__all__ = ["bench_copy_of_site", "running_site", "say"]


def bench_copy_of_site(name: str, directory: Path, source: Path = control.DEFAULT_SITE) -> Path:
    """Write ``source`` renamed to ``name`` into ``directory``; return the new file."""
    text, count = re.subn(r'(?m)^name = "[^"]*"$', f'name = "{name}"', source.read_text(encoding="utf-8"), count=1)
    if count != 1:
        raise ValueError(f"{source} has no top-level name = \"...\" line to rename")
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def running_site(path: Path) -> Iterator[tuple[Site, control.LabState]]:
    """The site of ``path``, up for the duration of the block (a failed up cleans up itself)."""
    site = load_site(path)
    state = control.up(path)
    try:
        yield site, state
    finally:
        control.down(site.name)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
