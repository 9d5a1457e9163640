"""The default lab site, started once per test session under its own name.

The tests run a copy of ``lab/site.toml`` under a name of their own (``t`` + the
pytest process id: own namespaces and state root), so they never disturb a
developer's running ``demo`` site nor another test run, and so the default site file
itself is what the integration tests check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import control
from lab.site import Site, load_site

PORTHOLE = str(Path(sys.executable).with_name("porthole"))


@dataclass(frozen=True)
class RunningSite:
    site: Site
    path: Path

    def controller(self, name: str):
        return next(c for c in self.site.controllers if c.name == name)

    def porthole(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run porthole inside the site's scanner namespace."""
        return subprocess.run([*control.scanner_prefix(self.site), PORTHOLE, *args], capture_output=True, text=True, timeout=timeout, check=False)

    def audit_json(self, *args: str) -> tuple[int, dict]:
        completed = self.porthole("audit", *args, "--format", "json", "--scope", str(self.site.subnet))
        assert completed.returncode in (0, 1), completed.stderr
        return completed.returncode, json.loads(completed.stdout)

    def in_scanner(self, code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*control.scanner_prefix(self.site), sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class UnitAudit:
    """One ``porthole audit`` of the master, slave and misconf units (run once per session)."""

    code: int
    report: dict
    #: controller name -> that host's entry of the report
    hosts: dict


@pytest.fixture(scope="session")
def unit_audit(demo_site: "RunningSite") -> UnitAudit:
    addresses = {name: str(demo_site.controller(name).address) for name in ("master", "slave", "misconf")}
    code, report = demo_site.audit_json(*addresses.values())
    hosts = {name: next(h for h in report["hosts"] if h["address"] == address) for name, address in addresses.items()}
    return UnitAudit(code, report, hosts)


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    directory = tmp_path_factory.mktemp("site")
    text = (control.DEFAULT_SITE).read_text()
    text, count = re.subn(r'(?m)^name = "demo"$', f'name = "t{os.getpid() % 100000:05d}"', text)
    assert count == 1
    path = directory / "site.toml"
    path.write_text(text)
    os.environ.setdefault("PORTHOLE_LAB_STATE", str(directory / "state"))
    site = load_site(path)
    control.down(path)  # a leftover from an aborted earlier run
    control.up(path)
    try:
        yield RunningSite(site, path)
    finally:
        control.down(path)
