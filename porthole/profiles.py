"""Role profiles: what a controller in a given role should expose, and the diff against a scan.

A profile is a TOML file (``profiles/master.toml``, ``profiles/slave.toml`` or one the
user writes) that says, per port, whether a hardened unit in that role has it open,
closed, or either (``optional``), why, and which controller setting governs it::

    [profile]                      id, version (int), role, description, changelog
    [default]                      expect for ports the file does not list ("closed")
    [[port]]                       protocol, number, expect, reason, setting,
                                   severity, service, note

Contract:

* **Strict loader.** ``load_profile`` rejects unknown keys, wrong types, bad values,
  duplicate ports and missing reasons/settings with a ``ProfileError`` that names the
  file, the line and the entry (``master.toml:57: [[port]] #12 (502/tcp): ...``) and
  says how to fix it. A typo in a security baseline must never be silently ignored.
* **Pure diff.** ``diff`` and ``infer_role`` are pure functions of observations and
  profiles: no I/O, no clock, deterministic output (in ``PortRef`` order). The loader and
  ``list_profiles`` are the only functions here that read files; nothing here touches
  the network.
* **Honest about the vantage.** Silence on a UDP port (``open|filtered``) is never
  counted as a deviation in either direction; it yields an INFO finding
  (``profile-udp-ambiguous``) saying the vantage cannot tell. Ports that were not
  probed (``unknown``) and ``optional`` ports never fire.

Diff rules, per probed port (``expect`` from the port's entry, else ``[default]``)::

    observed        expect=closed               expect=open          optional
    open            forbidden-open (listed)     -                    -
                    unexpected-open (default)
    closed          -                           expected-missing     -
    filtered        -                           expected-missing     -
    open|filtered   INFO profile-udp-ambiguous  INFO (same)          -
    unknown         -                           -                    -

Role inference (``--role auto``) rests on the OCPP/DLM master ports 1600/1601 (open
on a master, closed on a slave), then on how well the observations fit each profile.
Extra evidence, such as the TLS-certificate equality of 443/444/445 described in
protocols.md §0.1, enters through ``infer_role(..., clues=...)`` as ``RoleClue``
values; this module does not gather it.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import sysconfig
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import porthole
from porthole.catalog import Catalog, default_catalog
from porthole.errors import ProfileError, ReportInputError
from porthole.model import (
    Deviation,
    DeviationKind,
    Expectation,
    Finding,
    PortObservation,
    PortRef,
    PortState,
    ProfileRef,
    Protocol,
    Reason,
    RoleInference,
    Severity,
)

__all__ = [
    "PROFILES_DIR_ENV",
    "REPOSITORY_PROFILES_DIR",
    "MASTER_ROLE",
    "SLAVE_ROLE",
    "MASTER_PORTS",
    "DEFAULT_VIOLATION_SEVERITY",
    "AMBIGUOUS_FINDING_ID",
    "PortRule",
    "Profile",
    "RoleClue",
    "default_search_dirs",
    "load_profile",
    "load_role_profile",
    "list_profiles",
    "diff",
    "finding_id",
    "split_profile_source",
    "infer_role",
    "master_port_clues",
    "observations_from_host",
    "capture_profile",
    "render_profile",
]

#: environment variable naming extra profile directories (``os.pathsep``-separated),
#: searched before the repository's ``profiles/``
PROFILES_DIR_ENV = "PORTHOLE_PROFILES_DIR"
#: the shipped profiles, next to the package in a source checkout
REPOSITORY_PROFILES_DIR = Path(porthole.__file__).resolve().parents[1] / "profiles"
#: where a wheel installs them (pyproject ``data-files``): the environment's prefix, or
#: the user scheme's for ``pip install --user``
INSTALLED_PROFILES_SUBDIR = Path("share", "porthole", "profiles")
_REPOSITORY_ROOT = REPOSITORY_PROFILES_DIR.parent

MASTER_ROLE = "master"
SLAVE_ROLE = "slave"
#: the OCPP and DLM master ports: slaves connect to them over TLS, so only a master
#: listens (vendor port table, "OCPP and DLM Master"; protocols.md §0.1)
MASTER_PORTS = (PortRef(Protocol.TCP, 1600), PortRef(Protocol.TCP, 1601))

DEFAULT_VIOLATION_SEVERITY: Mapping[DeviationKind, Severity] = MappingProxyType(
    {
        DeviationKind.FORBIDDEN_OPEN: Severity.HIGH,
        DeviationKind.EXPECTED_MISSING: Severity.MEDIUM,
        DeviationKind.UNEXPECTED_OPEN: Severity.MEDIUM,
    }
)
AMBIGUOUS_FINDING_ID = "profile-udp-ambiguous"

_TOP_LEVEL_KEYS = ("default", "port", "profile")
_PROFILE_KEYS = ("changelog", "description", "id", "role", "version")
_DEFAULT_KEYS = ("expect", "severity")
_PORT_KEYS = ("expect", "note", "number", "protocol", "reason", "service", "setting", "severity")
_REQUIRED_PORT_KEYS = ("protocol", "number", "expect", "reason")
# ids and roles end up in file names, report fields and CLI arguments: keep them plain
_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")

# Short names for titles ("502/tcp (Modbus TCP server) is open ..."). The catalogue's
# ``purpose`` is a sentence; a title wants a noun. Unknown ids fall back to the id.
_SERVICE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "ssh": "SSH",
        "dns": "DNS forwarder",
        "http": "web UI over HTTP",
        "https": "web UI over HTTPS",
        "modbus": "Modbus TCP server",
        "ocpp-dlm": "OCPP/DLM master port",
        "ssdp": "SSDP/UPnP discovery",
        "eebus-ship": "EEBUS SHIP server",
        "mdns": "mDNS responder",
        "ocpp-s": "OCPP-S SOAP server",
        "semp": "SEMP interface",
        "iso15118-sdp": "ISO 15118 SECC discovery",
        "iso15118-v2g": "ISO 15118 V2G without TLS",
        "iso15118-v2g-tls": "ISO 15118 V2G over TLS",
    }
)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True, kw_only=True)
class PortRule:
    """One ``[[port]]`` entry of a profile."""

    protocol: Protocol
    number: int
    expect: Expectation
    #: why the profile expects this (shown as the finding's detail)
    reason: str
    #: the controller setting that governs the port (vendor wording where known)
    setting: str | None = None
    #: severity of a violation of this entry; ``None`` means the kind's default
    severity: Severity | None = None
    #: catalogue service id
    service: str | None = None
    note: str | None = None
    #: 1-based line of the entry's ``[[port]]`` header in the file (None if unknown)
    line: int | None = None

    @property
    def ref(self) -> PortRef:
        return PortRef(self.protocol, self.number)

    def severity_for(self, kind: DeviationKind) -> Severity:
        return self.severity or DEFAULT_VIOLATION_SEVERITY[kind]


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A loaded, validated profile file. Build it with ``load_profile``."""

    id: str
    version: int
    role: str
    description: str
    changelog: tuple[str, ...]
    #: expectation for ports without an entry ("closed" or "optional")
    default_expect: Expectation
    #: severity of ``unexpected-open`` for ports without an entry
    default_severity: Severity
    #: entries in file order
    ports: Mapping[PortRef, PortRule]
    #: the file, resolved
    path: Path
    #: the path as reports show it: relative to the repository for shipped profiles
    display_path: str
    #: sha256 of the file's bytes, so a report says exactly which expectations it used
    sha256: str
    #: line of the ``[default]`` table (None when the file has none)
    default_line: int | None = None

    def rule_for(self, ref: PortRef) -> PortRule | None:
        return self.ports.get(ref)

    def expectation_for(self, ref: PortRef) -> Expectation:
        rule = self.ports.get(ref)
        return rule.expect if rule else self.default_expect

    def ref(self) -> ProfileRef:
        return ProfileRef(id=self.id, version=self.version, role=self.role, path=self.display_path, sha256=self.sha256)

    def source_for(self, ref: PortRef) -> str:
        """``profiles/master.toml:57#502/tcp``: the file, the line of the rule that applies
        (the port's entry, else ``[default]``) and the port. See ``split_profile_source``."""
        rule = self.ports.get(ref)
        line = rule.line if rule else self.default_line
        where = f"{self.display_path}:{line}" if line is not None else self.display_path
        return f"{where}#{ref}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleClue:
    """One piece of evidence that a host plays ``role``, with the line a report shows.

    This is the extension seam of ``infer_role``: evidence gathered elsewhere (e.g.
    whether 444/tcp or 445/tcp presents the same TLS certificate as 443/tcp,
    protocols.md §0.1) is passed in as clues and weighs like the master-port check.
    """

    role: str
    line: str


# --------------------------------------------------------------------------- loader


def default_search_dirs() -> tuple[Path, ...]:
    """``$PORTHOLE_PROFILES_DIR`` (may list several, ``os.pathsep``-separated), then the
    source checkout's ``profiles/``, then the ones a wheel installed (``share/porthole/profiles``
    under the environment's prefix, then under the user scheme). Only existing directories
    after the configured ones."""
    configured = os.environ.get(PROFILES_DIR_ENV, "")
    dirs = [Path(item).expanduser() for item in configured.split(os.pathsep) if item.strip()]
    for candidate in (REPOSITORY_PROFILES_DIR, *installed_profile_dirs()):
        if candidate.is_dir() and candidate not in dirs:
            dirs.append(candidate)
    return tuple(dirs)


def installed_profile_dirs() -> tuple[Path, ...]:
    """``<data>/share/porthole/profiles`` for this interpreter's scheme and the user scheme."""
    found = []
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        try:
            data = sysconfig.get_path("data", scheme)
        except KeyError:
            continue
        found.append(Path(data) / INSTALLED_PROFILES_SUBDIR)
    return tuple(dict.fromkeys(found))


def load_profile(
    name_or_path: str | Path,
    *,
    search_dirs: Sequence[Path] | None = None,
    catalog: Catalog | None = None,
) -> Profile:
    """Load and validate a profile by path (``./site.toml``, ``a/b.toml``) or by name.

    A bare name (``master``) is looked up as ``<name>.toml`` in ``search_dirs``
    (default: ``default_search_dirs()``), first match wins, and the file's
    ``[profile] id`` must equal the name.
    """
    catalog = catalog or default_catalog()
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        return _load_file(path, display_path=_display_path(path), expected_id=None, catalog=catalog)
    name = str(name_or_path)
    if not _NAME_PATTERN.match(name):
        raise ProfileError(
            f"profile name {name!r} is neither a path nor a plain name; "
            "give a file path (ending in .toml) or a name such as 'master'"
        )
    dirs = tuple(search_dirs) if search_dirs is not None else default_search_dirs()
    for directory in dirs:
        candidate = directory / f"{name}.toml"
        if candidate.is_file():
            return _load_file(candidate, display_path=_display_path(candidate), expected_id=name, catalog=catalog)
    available = sorted({path.stem for directory in dirs if directory.is_dir() for path in directory.glob("*.toml")})
    raise ProfileError(
        f"no profile named {name!r} in {', '.join(str(directory) for directory in dirs) or 'no search directory'}"
        f"; available: {', '.join(available) or 'none'}. "
        f"Pass a file path, or add its directory to ${PROFILES_DIR_ENV}."
    )


def load_role_profile(role: str, *, search_dirs: Sequence[Path] | None = None, catalog: Catalog | None = None) -> Profile:
    """The profile named after ``role`` (``--role master`` → ``master.toml``); its
    ``[profile] role`` must say the same role."""
    profile = load_profile(role, search_dirs=search_dirs, catalog=catalog)
    if profile.role != role:
        raise ProfileError(
            f"{profile.display_path}: [profile] role is {profile.role!r} but the file is the profile for role "
            f"{role!r}; set role = {role!r} or pass the file with --profile"
        )
    return profile


def list_profiles(search_dirs: Sequence[Path] | None = None, *, catalog: Catalog | None = None) -> list[Profile]:
    """Every ``*.toml`` profile in the search directories, by name; an earlier directory
    shadows a later one. An invalid file raises: a broken baseline must not be skipped."""
    dirs = tuple(search_dirs) if search_dirs is not None else default_search_dirs()
    seen: dict[str, Path] = {}
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            seen.setdefault(path.stem, path)
    catalog = catalog or default_catalog()
    return [
        _load_file(path, display_path=_display_path(path), expected_id=name, catalog=catalog)
        for name, path in sorted(seen.items())
    ]


def _looks_like_path(name_or_path: str | Path) -> bool:
    if isinstance(name_or_path, Path):
        return True
    return "/" in name_or_path or os.sep in name_or_path or name_or_path.endswith(".toml")


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(_REPOSITORY_ROOT).as_posix()
    except ValueError:
        return str(path)


def _load_file(path: Path, *, display_path: str, expected_id: str | None, catalog: Catalog) -> Profile:
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read profile {display_path}: {exc.strerror or exc}") from None
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{display_path}: not UTF-8 text (byte {exc.start}); save the profile as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{display_path}: not valid TOML: {exc}") from None
    locator = _TableLocator(text)
    parser = _ProfileParser(display_path=display_path, locator=locator, catalog=catalog)
    fields = parser.parse(data)
    if expected_id is not None and fields["id"] != expected_id:
        raise ProfileError(
            f"{parser.at(locator.profile_line)}[profile]: id is {fields['id']!r} but the file is named "
            f"{expected_id}.toml; a profile found by name must carry that name as its id "
            f"(set id = {expected_id!r} or rename the file)"
        )
    return Profile(
        **fields,
        path=path.resolve(),
        display_path=display_path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        default_line=locator.default_line,
    )


class _TableLocator:
    """Line numbers of ``[profile]``, ``[default]`` and each ``[[port]]`` header.

    tomllib keeps no positions, so the headers are found by scanning the text: the
    n-th ``[[port]]`` header line is the n-th element of the ``port`` array. Lines
    inside multi-line strings are skipped. If the count disagrees with what tomllib
    parsed (an exotic spelling such as ``[["port"]]``), port lines are reported as
    unknown rather than guessed.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_-]+)\s*(\]\]?)\s*(#.*)?$")

    def __init__(self, text: str) -> None:
        self.profile_line: int | None = None
        self.default_line: int | None = None
        self._port_lines: list[int] = []
        open_delimiter: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if open_delimiter is None:
                match = self._HEADER.match(line)
                if match:
                    brackets, name = match.group(1), match.group(2)
                    if brackets == "[[" and name == "port":
                        self._port_lines.append(number)
                    elif brackets == "[" and name == "profile" and self.profile_line is None:
                        self.profile_line = number
                    elif brackets == "[" and name == "default" and self.default_line is None:
                        self.default_line = number
                    continue
            open_delimiter = self._track_multiline(line, open_delimiter)

    @staticmethod
    def _track_multiline(line: str, open_delimiter: str | None) -> str | None:
        position = 0
        while True:
            if open_delimiter is not None:
                end = line.find(open_delimiter, position)
                if end < 0:
                    return open_delimiter
                position, open_delimiter = end + 3, None
                continue
            starts = [(line.find(delimiter, position), delimiter) for delimiter in ('"""', "'''")]
            starts = [(index, delimiter) for index, delimiter in starts if index >= 0]
            comment = line.find("#", position)
            if not starts or (0 <= comment < min(starts)[0]):
                return None
            index, open_delimiter = min(starts)
            position = index + 3

    def port_line(self, index: int, count: int) -> int | None:
        """Line of the ``index``-th (1-based) of ``count`` parsed ``[[port]]`` entries."""
        if len(self._port_lines) != count:
            return None
        return self._port_lines[index - 1]


class _ProfileParser:
    """Turns tomllib's dict into ``Profile`` fields, raising ``ProfileError`` on anything off."""

    def __init__(self, *, display_path: str, locator: _TableLocator, catalog: Catalog) -> None:
        self.display_path = display_path
        self.locator = locator
        self.catalog = catalog
        self.service_ids = frozenset(entry.service for entry in catalog.ports.values())

    def at(self, line: int | None) -> str:
        """Message prefix: ``profiles/x.toml:12: `` (compiler style, clickable in editors)."""
        return f"{self.display_path}:{line}: " if line is not None else f"{self.display_path}: "

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        self._reject_unknown(data, _TOP_LEVEL_KEYS, self.at(None) + "top level", noun="table")
        if "profile" not in data:
            raise ProfileError(
                f"{self.at(None)}missing the [profile] table; start the file with "
                '[profile] id = "...", version = 1, role = "master"'
            )
        header = self._parse_header(data["profile"])
        default_expect, default_severity = self._parse_default(data.get("default", {}))
        return {
            **header,
            "default_expect": default_expect,
            "default_severity": default_severity,
            "ports": MappingProxyType(self._parse_ports(data.get("port", []))),
        }

    # -- tables

    def _parse_header(self, table: object) -> dict[str, Any]:
        context = self.at(self.locator.profile_line) + "[profile]"
        table = self._table(table, context)
        self._reject_unknown(table, _PROFILE_KEYS, context)
        for key in ("id", "version", "role"):
            if key not in table:
                raise ProfileError(f"{context}: missing key {key!r} (required: id, version, role)")
        profile_id = self._name(table["id"], context, "id", example="site-a-master")
        role = self._name(table["role"], context, "role", example="master")
        version = table["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProfileError(
                f"{context}: version must be a positive integer (e.g. version = 3), not {version!r}; "
                "bump it whenever an expectation changes"
            )
        description = self._optional_text(table, "description", context) or ""
        changelog = table.get("changelog", [])
        if isinstance(changelog, str):
            changelog = (changelog,)
        elif isinstance(changelog, list) and all(isinstance(item, str) for item in changelog):
            changelog = tuple(changelog)
        else:
            raise ProfileError(f"{context}: changelog must be a string or a list of strings, not {changelog!r}")
        return {"id": profile_id, "version": version, "role": role, "description": description, "changelog": changelog}

    def _parse_default(self, table: object) -> tuple[Expectation, Severity]:
        context = self.at(self.locator.default_line) + "[default]"
        table = self._table(table, context)
        self._reject_unknown(table, _DEFAULT_KEYS, context)
        expect = self._expectation(table.get("expect", Expectation.CLOSED.value), context)
        if expect is Expectation.OPEN:
            # "every port not listed must be open" would turn each unlisted probed
            # port into expected-missing: never what a baseline means.
            raise ProfileError(
                f'{context}: expect = "open" is not allowed for unlisted ports; use "closed" '
                '(anything open that is not listed is unexpected-open) or "optional"'
            )
        severity = self._severity(table, context) or DEFAULT_VIOLATION_SEVERITY[DeviationKind.UNEXPECTED_OPEN]
        return expect, severity

    def _parse_ports(self, entries: object) -> dict[PortRef, PortRule]:
        if not isinstance(entries, list):
            raise ProfileError(f"{self.at(None)}port must be an array of [[port]] tables, not a {type(entries).__name__}")
        rules: dict[PortRef, PortRule] = {}
        for index, raw in enumerate(entries, start=1):
            line = self.locator.port_line(index, len(entries))
            rule = self._parse_port(raw, index, line)
            if rule.ref in rules:
                first = rules[rule.ref]
                first_where = f"line {first.line}" if first.line is not None else "an earlier entry"
                raise ProfileError(
                    f"{self.at(line)}[[port]] #{index} ({rule.ref}): {rule.ref} is already listed "
                    f"({first_where}); keep one entry per port"
                )
            rules[rule.ref] = rule
        return rules

    def _parse_port(self, raw: object, index: int, line: int | None) -> PortRule:
        context = f"{self.at(line)}[[port]] #{index}"
        table = self._table(raw, context)
        # Name the entry by its port as early as possible: "#12 (502/tcp)" is what a
        # reader searches the file for.
        protocol_text, number = table.get("protocol"), table.get("number")
        if isinstance(protocol_text, str) and isinstance(number, int) and not isinstance(number, bool):
            context = f"{context} ({number}/{protocol_text})"
        self._reject_unknown(table, _PORT_KEYS, context)
        missing = [key for key in _REQUIRED_PORT_KEYS if key not in table]
        if missing:
            raise ProfileError(
                f"{context}: missing key(s) {', '.join(repr(key) for key in missing)} "
                f"(required: {', '.join(_REQUIRED_PORT_KEYS)})"
            )
        try:
            protocol = Protocol(str(protocol_text))
        except ValueError:
            raise ProfileError(f'{context}: protocol must be "tcp" or "udp", not {protocol_text!r}') from None
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            raise ProfileError(f"{context}: number must be an integer from 1 to 65535, not {number!r}")
        expect = self._expectation(table["expect"], context)
        reason = self._optional_text(table, "reason", context)
        if not reason or not reason.strip():
            raise ProfileError(f"{context}: reason must say why the port is expected {expect.value}")
        setting = self._optional_text(table, "setting", context)
        if expect is not Expectation.OPEN and not (setting and setting.strip()):
            raise ProfileError(
                f'{context}: setting is required for an expect = "{expect.value}" port: name the controller '
                'setting that governs it (e.g. setting = "SSH access: Off")'
            )
        service = self._optional_text(table, "service", context)
        if service is not None and service not in self.service_ids:
            raise ProfileError(
                f"{context}: service {service!r} is not a catalogue service id; "
                f"known: {', '.join(sorted(self.service_ids))} (or leave service out)"
            )
        if expect is Expectation.OPTIONAL and "severity" in table:
            raise ProfileError(f'{context}: severity has no effect on an expect = "optional" port (it never fires); remove it')
        return PortRule(
            protocol=protocol,
            number=number,
            expect=expect,
            reason=reason.strip(),
            setting=setting.strip() if setting else None,
            severity=self._severity(table, context),
            service=service,
            note=self._optional_text(table, "note", context),
            line=line,
        )

    # -- values

    def _table(self, value: object, context: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ProfileError(f"{context}: expected a table, not {type(value).__name__} {value!r}")
        return value

    def _reject_unknown(self, table: Mapping[str, Any], allowed: Sequence[str], context: str, *, noun: str = "key") -> None:
        unknown = sorted(set(table) - set(allowed))
        if not unknown:
            return
        listed = ", ".join(repr(key) for key in unknown)
        plural = "s" if len(unknown) > 1 else ""
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ProfileError(f"{context}: unknown {noun}{plural} {listed}{hint}; allowed {noun}s: {', '.join(allowed)}")

    def _name(self, value: object, context: str, key: str, *, example: str) -> str:
        if not isinstance(value, str) or not _NAME_PATTERN.match(value):
            raise ProfileError(
                f"{context}: {key} must be a lowercase name of letters, digits, '.', '_' or '-' "
                f"(e.g. {key} = {example!r}), not {value!r}"
            )
        return value

    def _optional_text(self, table: Mapping[str, Any], key: str, context: str) -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise ProfileError(f"{context}: {key} must be a string, not {type(value).__name__} {value!r}")
        return value

    def _expectation(self, value: object, context: str) -> Expectation:
        try:
            return Expectation(str(value))
        except ValueError:
            allowed = ", ".join(f'"{item.value}"' for item in Expectation)
            raise ProfileError(f"{context}: expect must be one of {allowed}, not {value!r}") from None

    def _severity(self, table: Mapping[str, Any], context: str) -> Severity | None:
        if "severity" not in table:
            return None
        try:
            return Severity(table["severity"])
        except ValueError:
            allowed = ", ".join(f'"{item.value}"' for item in Severity)
            raise ProfileError(f"{context}: severity must be one of {allowed}, not {table['severity']!r}") from None


# --------------------------------------------------------------------------- diff


def finding_id(kind: DeviationKind) -> str:
    """Stable finding id of a deviation kind: ``profile-forbidden-open`` etc."""
    return f"profile-{kind.value}"


def split_profile_source(source: str) -> tuple[str, int | None, PortRef]:
    """Inverse of ``Profile.source_for``: ``"profiles/master.toml:57#502/tcp"`` →
    ``("profiles/master.toml", 57, PortRef(TCP, 502))`` (for SARIF locations)."""
    location, hash_sign, port_text = source.rpartition("#")
    if not hash_sign:
        raise ValueError(f"{source!r} is not a profile source (no '#<port>/<protocol>')")
    number_text, _, protocol_text = port_text.partition("/")
    ref = PortRef(Protocol(protocol_text), int(number_text))
    path, colon, line_text = location.rpartition(":")
    if colon and line_text.isdigit():
        return path, int(line_text), ref
    return location, None, ref


def diff(
    observations: Sequence[PortObservation],
    profile: Profile,
    *,
    catalog: Catalog | None = None,
) -> tuple[tuple[Deviation, ...], tuple[Finding, ...]]:
    """Compare observed port states with ``profile`` (rules in the module docstring).

    Returns the deviations and one finding per deviation (plus INFO findings for
    ambiguous UDP silence), both in ``PortRef`` order (TCP then UDP, each by number),
    the order the catalogue and the engine use.
    """
    catalog = catalog or default_catalog()
    deviations: list[Deviation] = []
    findings: list[Finding] = []
    for observation in sorted(observations, key=lambda item: item.ref):
        expect = profile.expectation_for(observation.ref)
        if observation.state is PortState.UNKNOWN or expect is Expectation.OPTIONAL:
            continue
        context = _PortContext(observation=observation, profile=profile, catalog=catalog)
        if observation.state is PortState.OPEN_FILTERED:
            # Silence proves nothing: neither "it is open" nor "it is gone".
            findings.append(context.ambiguous_finding())
            continue
        kind = _deviation_kind(observation.state, expect, listed=profile.rule_for(observation.ref) is not None)
        if kind is None:
            continue
        deviation = context.deviation(kind)
        deviations.append(deviation)
        findings.append(context.finding(deviation))
    return tuple(deviations), tuple(findings)


def _deviation_kind(state: PortState, expect: Expectation, *, listed: bool) -> DeviationKind | None:
    """The definite-state rows of the table in the module docstring."""
    if state is PortState.OPEN and expect is Expectation.CLOSED:
        return DeviationKind.FORBIDDEN_OPEN if listed else DeviationKind.UNEXPECTED_OPEN
    if state in (PortState.CLOSED, PortState.FILTERED) and expect is Expectation.OPEN:
        return DeviationKind.EXPECTED_MISSING
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _PortContext:
    """Everything the wording of one port's deviation and finding draws on."""

    observation: PortObservation
    profile: Profile
    catalog: Catalog

    @property
    def ref(self) -> PortRef:
        return self.observation.ref

    @property
    def rule(self) -> PortRule | None:
        return self.profile.rule_for(self.ref)

    @property
    def setting(self) -> str | None:
        if self.rule and self.rule.setting:
            return self.rule.setting
        entry = self.catalog.get(self.ref)
        return entry.setting if entry else None

    @property
    def label(self) -> str:
        """``502/tcp (Modbus TCP server)``; forwarders say where they lead."""
        entry = self.catalog.get(self.ref)
        service = (self.rule.service if self.rule else None) or self.observation.service or (entry.service if entry else None)
        if not service or service == "unknown":
            return str(self.ref)
        name = _SERVICE_NAMES.get(service, service)
        if entry and entry.forwards and entry.service == service:
            name = f"{name} forwarder to the {entry.forwards}"
        return f"{self.ref} ({name})"

    def severity(self, kind: DeviationKind) -> Severity:
        if self.rule:
            return self.rule.severity_for(kind)
        return self.profile.default_severity

    def reason(self) -> str:
        if self.rule:
            return self.rule.reason
        entry = self.catalog.get(self.ref)
        known = f" It is documented as: {entry.purpose}." if entry else ""
        return (
            f"The {self.profile.id} profile does not list {self.ref}; its [default] expectation is "
            f"{self.profile.default_expect.value}, so an open port it does not list is unexpected.{known}"
        )

    def deviation(self, kind: DeviationKind) -> Deviation:
        return Deviation(
            kind=kind,
            port=self.ref.number,
            protocol=self.ref.protocol,
            expected=self.profile.expectation_for(self.ref),
            observed=self.observation.state,
            reason=self.reason(),
            setting=self.setting,
            severity=self.severity(kind),
        )

    def finding(self, deviation: Deviation) -> Finding:
        titles = {
            DeviationKind.FORBIDDEN_OPEN: f"{self.label} is open but the {self.profile.id} profile requires it closed",
            DeviationKind.UNEXPECTED_OPEN: f"{self.label} is open but the {self.profile.id} profile does not list it",
            DeviationKind.EXPECTED_MISSING: (
                f"{self.label} is {self.observation.state.value} but the {self.profile.id} profile expects it open"
            ),
        }
        return Finding(
            id=finding_id(deviation.kind),
            severity=deviation.severity,
            title=titles[deviation.kind],
            detail=deviation.reason,
            port=self.ref.number,
            protocol=self.ref.protocol,
            setting=deviation.setting,
            recommendation=self.recommendation(deviation.kind),
            evidence=self.evidence(),
            source=self.profile.source_for(self.ref),
        )

    def ambiguous_finding(self) -> Finding:
        expect = self.profile.expectation_for(self.ref)
        consequence = (
            "an open service would be a violation, a dropped probe would not"
            if expect is Expectation.CLOSED
            else "a mute service would satisfy it, a dropped probe would mean it is missing"
        )
        return Finding(
            id=AMBIGUOUS_FINDING_ID,
            severity=Severity.INFO,
            title=f"{self.label} did not answer: this vantage cannot tell whether it is open (profile expects {expect.value})",
            detail=(
                f"No reply and no ICMP port-unreachable came back, so {self.ref} is open|filtered: open with a "
                f"service that ignored the probe, or dropped on the way. The profile expects it {expect.value}; "
                f"{consequence}, so it is not counted as a deviation. "
                + (f"Profile reason: {self.rule.reason}" if self.rule else self.reason())
            ),
            port=self.ref.number,
            protocol=self.ref.protocol,
            setting=self.setting,
            recommendation=(
                f"Confirm on the controller that \"{self.setting}\" is as the profile expects, or repeat the scan "
                "from a vantage inside the station network where an ICMP port-unreachable can come back."
                if self.setting
                else "Repeat the scan from a vantage inside the station network, where an ICMP port-unreachable can come back."
            ),
            evidence=self.evidence(),
            source=self.profile.source_for(self.ref),
        )

    def recommendation(self, kind: DeviationKind) -> str:
        setting = self.setting
        ref = self.ref
        if kind is DeviationKind.FORBIDDEN_OPEN:
            return (
                f"Apply the hardening setting \"{setting}\" on the controller. If the service is genuinely needed, "
                f"firewall {ref} so only the hosts that use it can reach it, and record the exception in a site "
                'profile (expect = "optional" with a reason).'
            )
        if kind is DeviationKind.UNEXPECTED_OPEN:
            turn_off = f"turn it off (\"{setting}\")" if setting else "turn it off"
            return (
                f"Identify what listens on {ref}: {turn_off} or firewall {ref}. If it belongs on this unit, add a "
                '[[port]] entry to the profile with expect = "open" or "optional" and a reason.'
            )
        cause = (
            "the unit refused the connection, so the service is off"
            if self.observation.state is PortState.CLOSED
            else "nothing answered, so a firewall between this vantage and the unit may drop it, or the service is off"
        )
        enable = f"apply \"{setting}\"" if setting else "enable the service"
        return (
            f"{ref}: {cause}. Check the firewall path, then {enable}. If this unit legitimately runs without it, "
            'mark the port expect = "optional" in a site profile.'
        )

    def evidence(self) -> tuple[str, ...]:
        observation = self.observation
        details = [f"reason {observation.reason.value}"]
        if observation.rtt_ms is not None:
            details.append(f"rtt {observation.rtt_ms:.1f} ms")
        if observation.attempts > 1:
            details.append(f"{observation.attempts} attempts")
        observed = f"observed {self.ref} {observation.state.value} ({', '.join(details)})"
        if observation.detail:
            observed += f": {observation.detail}"
        if self.rule:
            expected = f'profile {self.profile.id} v{self.profile.version}: {self.ref} expect = "{self.rule.expect.value}"'
        else:
            expected = (
                f"profile {self.profile.id} v{self.profile.version}: {self.ref} not listed, "
                f'[default] expect = "{self.profile.default_expect.value}"'
            )
        return (observed, expected)


# --------------------------------------------------------------------------- role inference


def master_port_clues(observations: Sequence[PortObservation]) -> tuple[tuple[RoleClue, ...], tuple[str, ...]]:
    """Role clues from 1600/1601, and neutral notes when they prove nothing.

    Open master ports mean the unit acts as a master. Both refused (reset) while some
    other port is open means no master ports: a slave (or a standalone unit). Filtered
    master ports prove nothing: a firewall hides a master as well as a slave.
    """
    states = {observation.ref: observation.state for observation in observations if observation.state is not PortState.UNKNOWN}
    master_states = {ref: states.get(ref) for ref in MASTER_PORTS}
    names = ", ".join(str(ref) for ref in MASTER_PORTS)
    open_refs = [str(ref) for ref, state in master_states.items() if state is PortState.OPEN]
    if open_refs:
        ports = " and ".join(open_refs)
        others = [f"{ref} {state.value}" for ref, state in master_states.items() if state not in (PortState.OPEN, None)]
        line = f"{ports} open (OCPP/DLM master port{'s' if len(open_refs) > 1 else ''})"
        if others:
            line += f"; {', '.join(others)}"
        return (RoleClue(role=MASTER_ROLE, line=line),), ()
    if any(state is None for state in master_states.values()):
        return (), (f"{names} not probed: no master-port evidence",)
    if all(state is PortState.CLOSED for state in master_states.values()):
        serving = [str(ref) for ref, state in states.items() if state is PortState.OPEN]
        if serving:
            return (RoleClue(role=SLAVE_ROLE, line=f"{names} closed: no master ports"),), ()
        return (), (f"{names} closed, but no port is open at all: the unit may simply be down or locked down",)
    described = ", ".join(f"{ref} {state.value}" for ref, state in master_states.items() if state is not None)
    return (), (f"{described}: a firewall may hide master ports, so they prove nothing",)


def infer_role(
    observations: Sequence[PortObservation],
    profiles: Mapping[str, Profile],
    *,
    clues: Sequence[RoleClue] = (),
) -> RoleInference:
    """Which role (a key of ``profiles``) the observations show, and on what evidence.

    Decision order:

    1. Clues: the master-port check (``master_port_clues``) plus ``clues`` passed in
       (the seam for TLS-certificate or SSH-host-key equality across the forwarders).
       If they agree, that role wins; if they disagree, the role is undetermined.
    2. Otherwise, if at least one port is open and there are profiles to compare, the
       profile the observations fit with strictly the fewest deviations.
    3. Otherwise undetermined, with the reason (nothing probed, nothing open, a tie).

    The fit line is always included when computed, so a report shows when the clue
    and the fit disagree.
    """
    probed = tuple(observation for observation in observations if observation.state is not PortState.UNKNOWN)
    if not probed:
        return _undetermined("no port was probed (host down or scan interrupted): nothing to infer a role from")
    port_clues, notes = master_port_clues(probed)
    all_clues = (*port_clues, *clues)
    anything_open = any(observation.state is PortState.OPEN for observation in probed)
    fit_line, best_fit = _profile_fit(probed, profiles) if anything_open else (None, None)
    lines = [clue.line for clue in all_clues] + list(notes) + ([fit_line] if fit_line else [])

    roles = {clue.role for clue in all_clues}
    if len(roles) > 1:
        return _undetermined(f"conflicting evidence ({' vs '.join(sorted(roles))})", *lines)
    if roles:
        (role,) = roles
        if role not in profiles:
            return _undetermined(f"the evidence points to {role}, but no {role} profile is loaded", *lines)
        return RoleInference(role=role, method="inferred", evidence=tuple(lines))
    if not anything_open:
        return _undetermined("no port is open: nothing distinguishes one role from another", *lines)
    if len(profiles) < 2:
        return _undetermined("no clue, and a single profile gives the fit nothing to compare", *lines)
    if best_fit is not None:
        return RoleInference(role=best_fit, method="inferred", evidence=tuple(lines))
    return _undetermined("no clue, and the profiles fit equally well", *lines)


def _undetermined(reason: str, *lines: str) -> RoleInference:
    return RoleInference(role=None, method="undetermined", evidence=(reason, *lines))


def _profile_fit(observations: Sequence[PortObservation], profiles: Mapping[str, Profile]) -> tuple[str | None, str | None]:
    """``("fits slave profile with 0 deviations vs 3 for master", "slave")``; the role is
    None on a tie for the best fit."""
    if not profiles:
        return None, None
    counts = sorted(
        ((len(diff(observations, profile)[0]), role) for role, profile in profiles.items()),
        key=lambda item: (item[0], item[1]),
    )
    best_count, best_role = counts[0]
    tied = [role for count, role in counts if count == best_count]
    plural = "" if best_count == 1 else "s"
    if len(tied) > 1:
        return f"fits the {' and '.join(tied)} profiles equally ({best_count} deviation{plural} each)", None
    others = ", ".join(f"{count} for {role}" for count, role in counts[1:])
    line = f"fits {best_role} profile with {best_count} deviation{plural}"
    return (f"{line} vs {others}" if others else line), best_role


# --------------------------------------------------------------------------- capture


def observations_from_host(host: Mapping[str, Any]) -> tuple[PortObservation, ...]:
    """Port observations of one host as the JSON report holds it (``HostResult`` as a dict)."""
    address = host.get("address", "?") if isinstance(host, Mapping) else "?"
    if not isinstance(host, Mapping) or not isinstance(host.get("ports"), list):
        raise ReportInputError(f"host {address}: expected an object with a 'ports' list, as in a porthole JSON report")
    observations = []
    for index, raw in enumerate(host["ports"], start=1):
        where = f"host {address}: ports[{index}]"
        if not isinstance(raw, Mapping):
            raise ReportInputError(f"{where}: expected an object")
        try:
            number = raw["port"]
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
                raise ValueError(f"port {number!r} is not 1-65535")
            rtt = raw.get("rtt_ms")
            observations.append(
                PortObservation(
                    port=number,
                    protocol=Protocol(raw["protocol"]),
                    state=PortState(raw["state"]),
                    reason=Reason(raw["reason"]),
                    service=raw.get("service"),
                    rtt_ms=float(rtt) if rtt is not None else None,
                    attempts=int(raw.get("attempts", 1)),
                    detail=raw.get("detail"),
                )
            )
        except KeyError as exc:
            raise ReportInputError(f"{where}: missing {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ReportInputError(f"{where}: {exc}") from None
    return tuple(observations)


def capture_profile(
    host: Mapping[str, Any],
    *,
    profile_id: str,
    role: str,
    source: str,
    captured_on: str | None = None,
    catalog: Catalog | None = None,
) -> str:
    """Commented profile TOML from one known-good host of a JSON report.

    open → "open"; closed and filtered → "closed"; open|filtered → "optional" (the
    vantage could not tell, so the capture does not guess); unknown (not probed) → no
    entry. The text loads with ``load_profile`` and diffs to zero deviations against
    the same observations. ``captured_on`` (YYYY-MM-DD) defaults to today in UTC.
    """
    catalog = catalog or default_catalog()
    for key, value, example in (("profile id", profile_id, "site-a-master"), ("role", role, "master")):
        if not _NAME_PATTERN.match(value):
            raise ProfileError(f"{key} {value!r} must be a lowercase name of letters, digits, '.', '_' or '-' (e.g. {example!r})")
    observations = sorted(observations_from_host(host), key=lambda item: item.ref)
    address = str(host.get("address", "unknown address"))
    date = captured_on or datetime.now(UTC).date().isoformat()
    origin = f"{address} on {date}"

    lines = [
        f"# porthole role profile {profile_id!r} (role {role}), captured from a known-good unit.",
        "#",
        f"# Captured from {_comment(address)} on {date} by porthole {porthole.__version__}",
        f"# from the report {_comment(source)}.",
        "#",
        "# Every port that scan probed has an entry: open -> \"open\", closed or filtered ->",
        '# "closed", open|filtered (no answer; the vantage could not tell) -> "optional".',
        "# Ports not listed fall under [default] (closed): any that opens later is reported as",
        "# unexpected-open. Before relying on this baseline, replace each captured reason with",
        "# why the port should be that way, check each setting against the unit, and raise",
        "# severity where a violation matters more than the default (forbidden-open: high,",
        "# expected-missing: medium).",
        "",
        "[profile]",
        f"id = {_toml_string(profile_id)}",
        "version = 1",
        f"role = {_toml_string(role)}",
        f"description = {_toml_string(f'Captured from {origin} ({source})')}",
        f"changelog = [{_toml_string(f'1: captured from {origin}')}]",
        "",
        "[default]",
        'expect = "closed"',
    ]
    not_probed = [str(observation.ref) for observation in observations if observation.state is PortState.UNKNOWN]
    if not_probed:
        lines += ["", f"# Not probed in the source scan, so left to [default]: {', '.join(not_probed)}"]
    for observation in observations:
        if observation.state is PortState.UNKNOWN:
            continue
        lines += ["", *_captured_entry(observation, origin, catalog)]
    return "\n".join(lines) + "\n"


def _captured_entry(observation: PortObservation, origin: str, catalog: Catalog) -> list[str]:
    entry = catalog.get(observation.ref)
    expect = {
        PortState.OPEN: Expectation.OPEN,
        PortState.CLOSED: Expectation.CLOSED,
        PortState.FILTERED: Expectation.CLOSED,
        PortState.OPEN_FILTERED: Expectation.OPTIONAL,
    }[observation.state]
    comments = [f"# {observation.ref}: {_comment(entry.purpose) if entry else 'not a documented controller port'}"]
    if expect is Expectation.OPTIONAL:
        comments.append(
            "# optional: the port gave no answer (open|filtered), so the scan cannot tell open from dropped;"
            " decide open or closed and say why."
        )
    setting = entry.setting if entry and entry.setting else None
    if setting is None and expect is not Expectation.OPEN:
        setting = f"no documented controller setting: firewall {observation.ref}"
    body = [
        "[[port]]",
        f"protocol = {_toml_string(observation.protocol.value)}",
        f"number = {observation.port}",
        f"expect = {_toml_string(expect.value)}",
        f"reason = {_toml_string(f'captured from {origin} ({observation.state.value}, {observation.reason.value})')}",
    ]
    if setting:
        body.append(f"setting = {_toml_string(setting)}")
    if entry:
        body.append(f"service = {_toml_string(entry.service)}")
    return comments + body


def _toml_string(value: str) -> str:
    """A TOML basic string. TOML forbids raw control characters (U+0000-U+001F except
    tab, and U+007F) inside it, so they are escaped; everything else is kept as is."""
    escaped = []
    for character in value:
        if character in ('"', "\\"):
            escaped.append("\\" + character)
        elif character == "\n":
            escaped.append("\\n")
        elif character == "\t":
            escaped.append("\\t")
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            escaped.append(f"\\u{ord(character):04x}")
        else:
            escaped.append(character)
    return '"' + "".join(escaped) + '"'


def _comment(value: str) -> str:
    """Text safe inside a ``#`` comment: a newline in a hostile value must not start a TOML line."""
    return "".join(character if character.isprintable() else "?" for character in value)


# --------------------------------------------------------------------------- show


def render_profile(profile: Profile) -> str:
    """A readable listing for ``porthole profile show``: header, then one block per port."""
    header = [
        f"profile {profile.id} v{profile.version} (role {profile.role})",
        f"file    {profile.display_path}  sha256 {profile.sha256}",
    ]
    if profile.description:
        header.append(f"about   {profile.description}")
    for entry in profile.changelog:
        header.append(f"change  {entry}")
    header.append(
        f"default {profile.default_expect.value}: an open port the profile does not list is unexpected-open "
        f"({profile.default_severity.value})"
        if profile.default_expect is Expectation.CLOSED
        else f"default {profile.default_expect.value}: ports the profile does not list never fire"
    )
    columns = ("PORT", "EXPECT", "SEVERITY", "SERVICE")
    rows = [(str(rule.ref), rule.expect.value, _shown_severity(rule), rule.service or "-") for rule in profile.ports.values()]
    widths = [max(len(row[column]) for row in (columns, *rows)) for column in range(len(columns))]
    indent = " " * (widths[0] + 2)

    def line(cells: Sequence[str], last: str) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + "  " + last

    table = [line(columns, "SETTING")]
    for row, rule in zip(rows, profile.ports.values(), strict=True):
        table.append(line(row, rule.setting or "-"))
        table.append(f"{indent}why: {rule.reason}")
        if rule.note:
            table.append(f"{indent}note: {rule.note}")
    return "\n".join([*header, "", *table]) + "\n"


def _shown_severity(rule: PortRule) -> str:
    if rule.expect is Expectation.OPTIONAL:
        return "-"
    kind = DeviationKind.FORBIDDEN_OPEN if rule.expect is Expectation.CLOSED else DeviationKind.EXPECTED_MISSING
    return rule.severity_for(kind).value
