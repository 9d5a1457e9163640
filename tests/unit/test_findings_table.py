"""The documented finding table: every id a probe can emit is in it, and docs/findings.md shows it."""

from __future__ import annotations

import re
from pathlib import Path

import porthole
from porthole.findings import finding_table, render_markdown

ROOT = Path(porthole.__file__).resolve().parents[1]
# finding("some-id", ...) calls, and ids passed around as constants ("ssh-open" etc.)
_CALL = re.compile(r"""\bfinding\(\s*["']([a-z0-9-]+)["']""")


def ids_emitted_in_source() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "porthole").rglob("*.py"):
        found.update(_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_finding_id_used_in_the_code_is_documented():
    undocumented = sorted(ids_emitted_in_source() - set(finding_table()))
    assert undocumented == []


def test_every_entry_says_what_fixes_it():
    for spec in finding_table().values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", spec.id), spec.id
        assert spec.title and spec.setting and spec.recommendation, spec.id


def test_docs_findings_md_is_the_rendered_table():
    # `make docs` regenerates it
    assert (ROOT / "docs" / "findings.md").read_text(encoding="utf-8") == render_markdown()
