"""The documented finding table (``catalog/findings.toml``) and the one way to build findings.

Probes call ``finding("ssh-open", port=..., detail=..., evidence=[...])``: severity,
title, setting and recommendation come from the table, so every finding a user sees is
documented, and a typo in an id fails loudly (``KeyError`` naming the id) in tests
instead of inventing an undocumented finding.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from porthole.errors import CatalogError
from porthole.model import Finding, Protocol, Severity

__all__ = ["FindingSpec", "finding_table", "finding", "render_markdown"]

_KEYS = {"severity", "title", "setting", "recommendation"}


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingSpec:
    id: str
    severity: Severity
    title: str
    setting: str
    recommendation: str


@lru_cache(maxsize=1)
def finding_table() -> Mapping[str, FindingSpec]:
    text = resources.files("porthole.catalog").joinpath("findings.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    table: dict[str, FindingSpec] = {}
    for finding_id, raw in data.get("finding", {}).items():
        unknown = set(raw) - _KEYS
        missing = _KEYS - set(raw)
        if unknown or missing:
            raise CatalogError(f"findings.toml [finding.{finding_id}]: unknown {sorted(unknown)} / missing {sorted(missing)} keys")
        table[finding_id] = FindingSpec(id=finding_id, severity=Severity(raw["severity"]), title=raw["title"], setting=raw["setting"], recommendation=raw["recommendation"])
    return MappingProxyType(table)


def finding(
    finding_id: str,
    *,
    detail: str,
    port: int | None = None,
    protocol: Protocol | None = None,
    evidence: Iterable[str] = (),
    severity: Severity | None = None,
    title: str | None = None,
    source: str | None = None,
) -> Finding:
    """A ``Finding`` for a documented id; ``severity``/``title`` may be sharpened per case."""
    spec = finding_table()[finding_id]
    return Finding(
        id=finding_id,
        severity=severity or spec.severity,
        title=title or spec.title,
        detail=detail,
        port=port,
        protocol=protocol,
        setting=spec.setting,
        recommendation=spec.recommendation,
        evidence=tuple(evidence),
        source=source or f"porthole/catalog/findings.toml#{finding_id}",
    )


def render_markdown() -> str:
    """docs/findings.md: the table every finding id is documented in (``make docs``)."""
    order = {severity: rank for rank, severity in enumerate(reversed(list(Severity)))}
    lines = [
        "# Findings",
        "",
        "Every finding id porthole can raise, generated from `porthole/catalog/findings.toml`",
        "by `make docs` (a test fails when this page and the table disagree). Ids are stable.",
        "A probe may sharpen the severity of one finding where its evidence says more (the",
        "finding's detail then says why).",
        "",
        "| id | severity | title | setting that fixes it | recommendation |",
        "|---|---|---|---|---|",
    ]
    for spec in sorted(finding_table().values(), key=lambda spec: (spec.id.split("-")[0], order[spec.severity], spec.id)):
        cells = [f"`{spec.id}`", spec.severity.value, spec.title, spec.setting, spec.recommendation]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
