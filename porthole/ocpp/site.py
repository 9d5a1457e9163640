"""The site file of ``porthole audit --site FILE``: which CSMS each controller talks to.

A controller is the WebSocket *client* of its backend, so a port scan never sees that
link; the site file names it so the audit can play the controller's part (see
docs/ocpp.md). This module is the strict loader and the glue between a scanned host and
``probe_link``:

    site = load_site(path)                                  # bad file → SiteFileError (exit 2), before any packet
    links = await audit_site_links(site, addresses)         # I/O: one link audit per listed, audited controller
    findings, documents = link_findings(links), link_documents(links)   # pure

Must not: accept a credential inline (only the *name* of an environment variable that
holds it), read that variable before the audit needs it, or put a credential in
anything it returns (``OcppEvidence`` holds none by construction; the documents add only
names of variables and files). Runs the duplicate-identity test only for a controller
whose entry says ``duplicate_identity_test = true``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from porthole.errors import UsageError
from porthole.jsonable import to_jsonable
from porthole.model import Finding
from porthole.ocpp.assess import assess, enforced_profile
from porthole.ocpp.client import LinkSettings, probe_link
from porthole.ocpp.evidence import OcppEvidence

__all__ = ["SiteFileError", "SiteController", "Site", "LinkAudit", "load_site", "audit_site_links", "link_documents"]

#: keys a ``[[controller]]`` entry may hold, with the TOML type each must have
_CONTROLLER_KEYS: dict[str, type] = {
    "address": str,
    "csms_url": str,
    "identity": str,
    "ca_file": str,
    "password_env": str,
    "client_cert": str,
    "client_key": str,
    "duplicate_identity_test": bool,
    "timeout": float,
}
_REQUIRED_KEYS = ("address", "csms_url", "identity")
#: keys that look like an inline secret: refused with a pointer to ``password_env``
_INLINE_SECRETS = frozenset({"password", "basic_password", "secret", "token"})


class SiteFileError(UsageError):
    """The site file cannot be used as written (exit 2); the message names the key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteController:
    address: str
    csms_url: str
    identity: str
    ca_file: Path | None = None
    #: name of the environment variable holding the Basic-auth password (never the password)
    password_env: str | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    duplicate_identity_test: bool = False
    timeout: float = 5.0

    def settings(self, environment: Mapping[str, str]) -> LinkSettings:
        """The probe settings, with the password read from the named variable now."""
        password = environment.get(self.password_env) or None if self.password_env else None
        return LinkSettings(
            url=self.csms_url, identity=self.identity, password=password, client_certificate=self.client_cert,
            client_key=self.client_key, ca_file=self.ca_file, step_budget=self.timeout,
            duplicate_identity_test=self.duplicate_identity_test,
        )

    def describe(self) -> dict[str, Any]:
        """What the report may say about this entry: names and paths only, no secret."""
        return {
            "csms_url": self.csms_url,
            "identity": self.identity,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "password_env": self.password_env,
            "client_cert": str(self.client_cert) if self.client_cert else None,
            "duplicate_identity_test": self.duplicate_identity_test,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    path: Path
    controllers: tuple[SiteController, ...] = ()

    def for_address(self, address: str) -> SiteController | None:
        return next((controller for controller in self.controllers if controller.address == address), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkAudit:
    controller: SiteController
    evidence: OcppEvidence
    findings: tuple[Finding, ...] = field(default=())


def load_site(path: Path) -> Site:
    """Parse and check the whole site file; every problem names the file, entry and key."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SiteFileError(f"--site {path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SiteFileError(f"--site {path}: not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {"controller"})
    if unknown:
        raise SiteFileError(f"--site {path}: unknown top-level key {unknown[0]!r}; the file holds only [[controller]] tables")
    entries = document.get("controller", [])
    if not isinstance(entries, list) or not entries:
        raise SiteFileError(f"--site {path}: no [[controller]] entries; list each controller with address, csms_url and identity")
    controllers = [_controller(path, index, entry) for index, entry in enumerate(entries)]
    seen: set[str] = set()
    for controller in controllers:
        if controller.address in seen:
            raise SiteFileError(f"--site {path}: address {controller.address} is listed twice; give each controller one entry")
        seen.add(controller.address)
    return Site(path=path, controllers=tuple(controllers))


def _controller(path: Path, index: int, entry: Any) -> SiteController:
    where = f"--site {path}: controller[{index}]"
    if not isinstance(entry, dict):
        raise SiteFileError(f"{where}: must be a [[controller]] table")
    for key, value in entry.items():
        if key in _INLINE_SECRETS:
            raise SiteFileError(f"{where}: key {key!r} would put a credential in the file; name an environment variable with password_env instead")
        if key not in _CONTROLLER_KEYS:
            raise SiteFileError(f"{where}: unknown key {key!r}; known keys: {', '.join(_CONTROLLER_KEYS)}")
        expected = _CONTROLLER_KEYS[key]
        # TOML writes 5 as an integer; a timeout of 5 means 5.0 seconds
        acceptable = (int, float) if expected is float else (expected,)
        if not isinstance(value, acceptable) or (expected is not bool and isinstance(value, bool)):
            raise SiteFileError(f"{where}: key {key!r} must be a {expected.__name__}, not {type(value).__name__}")
    for key in _REQUIRED_KEYS:
        if key not in entry:
            raise SiteFileError(f"{where}: missing required key {key!r}")
    try:
        address = str(ipaddress.ip_address(entry["address"]))
    except ValueError:
        raise SiteFileError(f"{where}: key 'address' must be an IP address as the audit names the host, not {entry['address']!r}") from None
    base = path.parent
    controller = SiteController(
        address=address,
        csms_url=entry["csms_url"],
        identity=entry["identity"],
        ca_file=_file(base, entry.get("ca_file"), where, "ca_file"),
        password_env=entry.get("password_env"),
        client_cert=_file(base, entry.get("client_cert"), where, "client_cert"),
        client_key=_file(base, entry.get("client_key"), where, "client_key"),
        duplicate_identity_test=entry.get("duplicate_identity_test", False),
        timeout=float(entry.get("timeout", 5.0)),
    )
    try:
        # LinkSettings owns the URL/identity/certificate rules; check them now, before any packet
        controller.settings({})
    except UsageError as exc:
        key = "timeout" if "--timeout" in str(exc) else "csms_url" if "URL" in str(exc) else "identity" if "identity" in str(exc) else "client_cert"
        raise SiteFileError(f"{where}: key {key!r}: {exc}") from None
    return controller


def _file(base: Path, value: str | None, where: str, key: str) -> Path | None:
    if value is None:
        return None
    # relative paths are relative to the site file, so the file and its CA travel together
    resolved = base / value
    if not resolved.is_file():
        raise SiteFileError(f"{where}: key {key!r}: {resolved} is not a readable file")
    return resolved


async def audit_site_links(site: Site, addresses: Collection[str], *, environment: Mapping[str, str] | None = None) -> list[LinkAudit]:
    """Audit, one after another, the link of every listed controller that is in the audit."""
    environment = os.environ if environment is None else environment
    audits = []
    for controller in site.controllers:
        if controller.address not in addresses:
            continue
        evidence = await probe_link(controller.settings(environment))
        findings = tuple(_anchored(item, controller) for item in assess(evidence))
        audits.append(LinkAudit(controller=controller, evidence=evidence, findings=findings))
    return audits


def _anchored(item: Finding, controller: SiteController) -> Finding:
    # assess() points at fields of one link's evidence ("/anonymous"); in a host report
    # the reader needs to know which link and where its evidence is
    # the finding's port is the CSMS's, not the controller's: leave it off the host's port list
    return replace(
        item,
        port=None,
        protocol=None,
        source=f"ocpp link {controller.csms_url} (identity {controller.identity})",
        evidence=tuple(f"config.ocpp_links[address={controller.address}].evidence{pointer}" for pointer in item.evidence),
    )


def link_documents(audits: list[LinkAudit]) -> list[dict[str, Any]]:
    """The report's ``config.ocpp_links``: per audited link, the entry, profile and evidence."""
    return [
        {
            "address": audit.controller.address,
            **audit.controller.describe(),
            "security_profile": enforced_profile(audit.evidence).value,
            "evidence": to_jsonable(audit.evidence),
        }
        for audit in audits
    ]
