"""Role profiles: the strict loader, the diff rules, role inference and capture.

The shipped profiles are tested as data too: every catalogue port is covered, and the
lab's hardened units (as the lab brief describes them) produce no deviations.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from porthole.catalog import default_catalog
from porthole.errors import ProfileError, ReportInputError
from porthole.model import (
    DeviationKind,
    Expectation,
    HostResult,
    HostStatus,
    PortObservation,
    PortRef,
    PortState,
    Protocol,
    Reason,
    Severity,
)
from porthole.profiles import (
    AMBIGUOUS_FINDING_ID,
    MASTER_PORTS,
    PROFILES_DIR_ENV,
    REPOSITORY_PROFILES_DIR,
    Profile,
    RoleClue,
    capture_profile,
    diff,
    infer_role,
    list_profiles,
    load_profile,
    load_role_profile,
    observations_from_host,
    render_profile,
    split_profile_source,
)
from porthole.report.encode import to_jsonable

# --------------------------------------------------------------------------- helpers

_DEFAULT_REASON = {
    (PortState.OPEN, Protocol.TCP): Reason.SYN_ACK,
    (PortState.OPEN, Protocol.UDP): Reason.REPLY,
    (PortState.CLOSED, Protocol.TCP): Reason.RESET,
    (PortState.CLOSED, Protocol.UDP): Reason.ICMP,
    (PortState.FILTERED, Protocol.TCP): Reason.TIMEOUT,
    (PortState.FILTERED, Protocol.UDP): Reason.ICMP,
    (PortState.OPEN_FILTERED, Protocol.UDP): Reason.TIMEOUT,
    (PortState.OPEN_FILTERED, Protocol.TCP): Reason.TIMEOUT,
    (PortState.UNKNOWN, Protocol.TCP): Reason.NOT_PROBED,
    (PortState.UNKNOWN, Protocol.UDP): Reason.NOT_PROBED,
}


def ref(spec: str) -> PortRef:
    number, _, protocol = spec.partition("/")
    return PortRef(Protocol(protocol or "tcp"), int(number))


def seen(spec: str, state: PortState, *, rtt_ms: float | None = None) -> PortObservation:
    """An observation of ``spec`` ("502", "53/udp") with the reason nmap would give."""
    port = ref(spec)
    return PortObservation(
        port=port.number,
        protocol=port.protocol,
        state=state,
        reason=_DEFAULT_REASON[(state, port.protocol)],
        service=default_catalog().service_of(port),
        rtt_ms=rtt_ms,
    )


def unit(*, served: set[str], filtered: set[str] = frozenset()) -> list[PortObservation]:
    """Every catalogue port of one lab unit, as lab.site describes the scan's view:
    served ports open, firewall-dropped ports filtered (UDP: open|filtered), the rest
    closed (RST / ICMP port-unreachable)."""
    observations = []
    for port in default_catalog().ports:
        spec = f"{port.number}/{port.protocol.value}"
        if spec in served:
            state = PortState.OPEN
        elif spec in filtered:
            state = PortState.OPEN_FILTERED if port.protocol is Protocol.UDP else PortState.FILTERED
        else:
            state = PortState.CLOSED
        observations.append(seen(spec, state))
    unknown_specs = (served | filtered) - {f"{p.number}/{p.protocol.value}" for p in default_catalog().ports}
    assert not unknown_specs, f"not catalogue ports: {unknown_specs}"
    return observations


# The lab site's units as the lab brief describes them.
HARDENED_MASTER = unit(
    served={"80/tcp", "81/tcp", "82/tcp", "443/tcp", "444/tcp", "445/tcp", "1600/tcp", "1601/tcp"},
    filtered={"22/tcp", "502/tcp", "8888/tcp", "15118/udp"},
)
HARDENED_SLAVE = unit(served={"80/tcp", "81/tcp", "82/tcp", "443/tcp", "444/tcp", "445/tcp"})
MISCONFIGURED = unit(
    served={"80/tcp", "443/tcp", "22/tcp", "23/tcp", "502/tcp", "8888/tcp", "1900/udp", "8090/tcp", "53/udp", "15119/tcp"},
)

MINIMAL = """\
[profile]
id = "site"
version = 2
role = "master"

[default]
expect = "closed"

[[port]]
protocol = "tcp"
number = 22
expect = "closed"
reason = "SSH is off in production"
setting = "SSH access: Off"

[[port]]
protocol = "tcp"
number = 443
expect = "open"
reason = "web UI over HTTPS"

[[port]]
protocol = "tcp"
number = 502
expect = "closed"
reason = "Modbus has no authentication"
setting = "Modbus TCP Server: Off"
service = "modbus"

[[port]]
protocol = "tcp"
number = 80
expect = "optional"
reason = "redirect to HTTPS"
setting = "HTTPS for web interface: On"

[[port]]
protocol = "udp"
number = 53
expect = "closed"
reason = "WAN router is off"
setting = "WAN Router: Off"

[[port]]
protocol = "udp"
number = 5353
expect = "open"
reason = "EEBUS discovery is in use on this site"
"""


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line equal to ``needle``."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if line.strip() == needle]
    return hits[occurrence - 1]


def header_line_of_entry(path: Path, number: int, protocol: str = "tcp") -> int:
    """Independent of the loader: the ``[[port]]`` line above ``number = N`` / ``protocol``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.strip() == f"number = {number}" and f'protocol = "{protocol}"' in (lines[index - 1], lines[index + 1]):
            header = max(i for i in range(index) if lines[i].strip() == "[[port]]")
            return header + 1
    raise AssertionError(f"no entry for {number}/{protocol} in {path}")


@pytest.fixture
def site(tmp_path: Path) -> Profile:
    return load_profile(write(tmp_path, MINIMAL))


@pytest.fixture(scope="module")
def shipped() -> dict[str, Profile]:
    # pinned to profiles/: a developer's $PORTHOLE_PROFILES_DIR must not change what is tested
    return {role: load_role_profile(role, search_dirs=[REPOSITORY_PROFILES_DIR]) for role in ("master", "slave")}


# --------------------------------------------------------------------------- shipped profiles


@pytest.mark.parametrize("role", ["master", "slave"])
def test_shipped_profile_loads_by_role_name_with_a_repository_relative_reference(role: str) -> None:
    # When the shipped profile is looked up by its role name
    profile = load_role_profile(role, search_dirs=[REPOSITORY_PROFILES_DIR])

    # Then it is the file in profiles/, referenced the way reports show it
    reference = profile.ref()
    assert (reference.id, reference.role, reference.path) == (role, role, f"profiles/{role}.toml")
    assert reference.version >= 1
    assert reference.sha256 == hashlib.sha256((REPOSITORY_PROFILES_DIR / f"{role}.toml").read_bytes()).hexdigest()
    assert profile.default_expect is Expectation.CLOSED


@pytest.mark.parametrize("role", ["master", "slave"])
def test_every_catalogue_port_has_an_entry_with_reason_and_setting(role: str, shipped: dict[str, Profile]) -> None:
    # Given the catalogue and a shipped profile
    profile = shipped[role]

    # Then the profile covers exactly the catalogue's ports
    assert set(profile.ports) == set(default_catalog().ports)
    # and every entry explains itself and names the setting, with the catalogue's service
    for port, rule in profile.ports.items():
        assert rule.reason and rule.setting, port
        assert rule.service == default_catalog().service_of(port), port
        assert rule.line is not None


def test_master_and_slave_profiles_differ_only_in_the_master_ports(shipped: dict[str, Profile]) -> None:
    # Given both shipped profiles
    master, slave = shipped["master"], shipped["slave"]

    # Then their expectations agree everywhere except 1600/1601, open on a master only
    differing = {port for port in master.ports if master.ports[port].expect != slave.ports[port].expect}
    assert differing == set(MASTER_PORTS)
    for port in MASTER_PORTS:
        assert master.ports[port].expect is Expectation.OPEN
        assert slave.ports[port].expect is Expectation.CLOSED
        assert slave.ports[port].severity is Severity.MEDIUM


@pytest.mark.parametrize(
    ("port", "expect", "severity"),
    [
        ("22/tcp", Expectation.CLOSED, Severity.HIGH),
        ("23/tcp", Expectation.CLOSED, Severity.HIGH),
        ("24/tcp", Expectation.CLOSED, Severity.HIGH),
        ("502/tcp", Expectation.CLOSED, Severity.HIGH),
        ("8888/tcp", Expectation.CLOSED, Severity.HIGH),
        ("1900/udp", Expectation.CLOSED, Severity.HIGH),
        ("8090/tcp", Expectation.CLOSED, Severity.HIGH),
        ("53/tcp", Expectation.CLOSED, Severity.MEDIUM),
        ("53/udp", Expectation.CLOSED, Severity.MEDIUM),
        ("15119/tcp", Expectation.CLOSED, Severity.MEDIUM),
        ("443/tcp", Expectation.OPEN, Severity.MEDIUM),
        ("444/tcp", Expectation.OPEN, Severity.MEDIUM),
        ("445/tcp", Expectation.OPEN, Severity.MEDIUM),
        ("80/tcp", Expectation.OPTIONAL, None),
        ("81/tcp", Expectation.OPTIONAL, None),
        ("82/tcp", Expectation.OPTIONAL, None),
        ("4711/tcp", Expectation.OPTIONAL, None),
        ("5353/udp", Expectation.OPTIONAL, None),
        ("15118/udp", Expectation.OPTIONAL, None),
        ("15120/tcp", Expectation.OPTIONAL, None),
    ],
)
def test_shipped_profiles_encode_the_hardening_decisions(
    port: str, expect: Expectation, severity: Severity | None, shipped: dict[str, Profile]
) -> None:
    # Then both roles expect the same of every port but the master ports
    for profile in shipped.values():
        rule = profile.rule_for(ref(port))
        assert rule is not None
        assert (rule.expect, rule.severity) == (expect, severity)


@pytest.mark.parametrize(("observations", "role"), [(HARDENED_MASTER, "master"), (HARDENED_SLAVE, "slave")])
def test_hardened_lab_units_show_no_deviation_from_their_profile(
    observations: list[PortObservation], role: str, shipped: dict[str, Profile]
) -> None:
    # When the hardened lab unit is diffed against its role's profile
    deviations, findings = diff(observations, shipped[role])

    # Then nothing deviates; only UDP silence is mentioned, at INFO
    assert deviations == ()
    assert all(finding.severity is Severity.INFO and finding.id == AMBIGUOUS_FINDING_ID for finding in findings)


def test_misconfigured_lab_unit_deviates_on_every_service_left_on(shipped: dict[str, Profile]) -> None:
    # When the misconfigured unit is diffed against the master profile
    deviations, findings = diff(MISCONFIGURED, shipped["master"])

    # Then every service that should be off is forbidden-open and every missing port is reported
    by_port = {f"{d.port}/{d.protocol.value}": (d.kind, d.severity) for d in deviations}
    assert by_port == {
        "22/tcp": (DeviationKind.FORBIDDEN_OPEN, Severity.HIGH),
        "23/tcp": (DeviationKind.FORBIDDEN_OPEN, Severity.HIGH),
        "53/udp": (DeviationKind.FORBIDDEN_OPEN, Severity.MEDIUM),
        "502/tcp": (DeviationKind.FORBIDDEN_OPEN, Severity.HIGH),
        "1900/udp": (DeviationKind.FORBIDDEN_OPEN, Severity.HIGH),
        "8090/tcp": (DeviationKind.FORBIDDEN_OPEN, Severity.HIGH),
        "8888/tcp": (DeviationKind.FORBIDDEN_OPEN, Severity.HIGH),
        "15119/tcp": (DeviationKind.FORBIDDEN_OPEN, Severity.MEDIUM),
        "444/tcp": (DeviationKind.EXPECTED_MISSING, Severity.MEDIUM),
        "445/tcp": (DeviationKind.EXPECTED_MISSING, Severity.MEDIUM),
        "1600/tcp": (DeviationKind.EXPECTED_MISSING, Severity.MEDIUM),
        "1601/tcp": (DeviationKind.EXPECTED_MISSING, Severity.MEDIUM),
    }
    assert len(findings) == len(deviations)


def test_a_slave_with_master_ports_open_is_a_medium_role_misconfiguration(shipped: dict[str, Profile]) -> None:
    # When the hardened master is diffed against the slave profile
    deviations, _ = diff(HARDENED_MASTER, shipped["slave"])

    # Then exactly the master ports are forbidden-open, at medium
    assert [(d.port, d.kind, d.severity) for d in deviations] == [
        (1600, DeviationKind.FORBIDDEN_OPEN, Severity.MEDIUM),
        (1601, DeviationKind.FORBIDDEN_OPEN, Severity.MEDIUM),
    ]


# --------------------------------------------------------------------------- loader errors


def _replace(old: str, new: str, count: int = 1):
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)

    return edit


def _append(extra: str):
    return lambda text: text + extra


PORT_KEYS = "allowed keys: expect, note, number, protocol, reason, service, setting, severity"


@pytest.mark.parametrize(
    ("edit", "message_parts"),
    [
        pytest.param(
            _replace('service = "modbus"', 'sevrity = "high"'),
            ["site.toml:{502}: [[port]] #3 (502/tcp): unknown key 'sevrity'", "(did you mean 'severity'?)", PORT_KEYS],
            id="unknown-port-key",
        ),
        pytest.param(
            _replace('role = "master"', 'role = "master"\nowner = "ops"'),
            ["site.toml:1: [profile]: unknown key 'owner'", "allowed keys: changelog, description, id, role, version"],
            id="unknown-profile-key",
        ),
        pytest.param(
            _replace('expect = "closed"\n\n[[port]]', 'expect = "closed"\nseverity = "low"\nports = 3\n\n[[port]]'),
            ["site.toml:6: [default]: unknown key 'ports'", "allowed keys: expect, severity"],
            id="unknown-default-key",
        ),
        pytest.param(
            _append('\n[constraints.tls]\nmin_version = "1.2"\n'),
            ["site.toml: top level: unknown table 'constraints'", "allowed tables: default, port, profile"],
            id="unknown-table",
        ),
        pytest.param(
            _replace('expect = "optional"', 'expect = "maybe"'),
            ["[[port]] #4 (80/tcp): expect must be one of \"open\", \"closed\", \"optional\", not 'maybe'"],
            id="bad-expect",
        ),
        pytest.param(
            _replace("number = 443", "number = 70000"),
            ["[[port]] #2 (70000/tcp): number must be an integer from 1 to 65535, not 70000"],
            id="port-out-of-range",
        ),
        pytest.param(
            _replace("number = 443", 'number = "443"'),
            ["[[port]] #2: number must be an integer from 1 to 65535, not '443'"],
            id="port-as-string",
        ),
        pytest.param(
            _replace('protocol = "udp"', 'protocol = "sctp"'),
            ["[[port]] #5 (53/sctp): protocol must be \"tcp\" or \"udp\", not 'sctp'"],
            id="bad-protocol",
        ),
        pytest.param(
            _replace("number = 443", "number = 22"),
            ["site.toml:{443}: [[port]] #2 (22/tcp): 22/tcp is already listed (line {22}); keep one entry per port"],
            id="duplicate-port",
        ),
        pytest.param(
            _replace('reason = "web UI over HTTPS"\n', ""),
            ["[[port]] #2 (443/tcp): missing key(s) 'reason' (required: protocol, number, expect, reason)"],
            id="missing-reason",
        ),
        pytest.param(
            _replace('reason = "web UI over HTTPS"', 'reason = "  "'),
            ["[[port]] #2 (443/tcp): reason must say why the port is expected open"],
            id="blank-reason",
        ),
        pytest.param(
            _replace('setting = "SSH access: Off"\n', ""),
            ['[[port]] #1 (22/tcp): setting is required for an expect = "closed" port'],
            id="missing-setting-closed",
        ),
        pytest.param(
            _replace('setting = "HTTPS for web interface: On"\n', ""),
            ['[[port]] #4 (80/tcp): setting is required for an expect = "optional" port'],
            id="missing-setting-optional",
        ),
        pytest.param(
            _replace("version = 2", 'version = "2"'),
            ["site.toml:1: [profile]: version must be a positive integer (e.g. version = 3), not '2'"],
            id="version-string",
        ),
        pytest.param(
            _replace("version = 2", "version = true"),
            ["[profile]: version must be a positive integer (e.g. version = 3), not True"],
            id="version-bool",
        ),
        pytest.param(
            _replace('id = "site"', 'id = "Site A"'),
            ["[profile]: id must be a lowercase name of letters, digits, '.', '_' or '-'", "not 'Site A'"],
            id="bad-id",
        ),
        pytest.param(
            _replace('role = "master"', "role = 1"),
            ["[profile]: role must be a lowercase name", "not 1"],
            id="role-not-string",
        ),
        pytest.param(
            _replace('service = "modbus"', 'service = "telnet"'),
            ["[[port]] #3 (502/tcp): service 'telnet' is not a catalogue service id; known: dns, eebus-ship,"],
            id="unknown-service",
        ),
        pytest.param(
            _replace('setting = "Modbus TCP Server: Off"', 'setting = "Modbus TCP Server: Off"\nseverity = "urgent"'),
            ['[[port]] #3 (502/tcp): severity must be one of "info", "low", "medium", "high", "critical", not \'urgent\''],
            id="bad-severity",
        ),
        pytest.param(
            _replace('setting = "HTTPS for web interface: On"', 'setting = "HTTPS for web interface: On"\nseverity = "high"'),
            ['[[port]] #4 (80/tcp): severity has no effect on an expect = "optional" port'],
            id="severity-on-optional",
        ),
        pytest.param(
            _replace('[default]\nexpect = "closed"', '[default]\nexpect = "open"'),
            ['[default]: expect = "open" is not allowed for unlisted ports'],
            id="default-open",
        ),
        pytest.param(
            _replace("version = 2", "version = 2\nchangelog = 7"),
            ["[profile]: changelog must be a string or a list of strings, not 7"],
            id="changelog-type",
        ),
        pytest.param(
            _replace('[profile]\nid = "site"\nversion = 2\nrole = "master"\n', ""),
            ["site.toml: missing the [profile] table"],
            id="missing-profile-table",
        ),
        pytest.param(
            _replace('role = "master"\n', ""),
            ["[profile]: missing key 'role' (required: id, version, role)"],
            id="missing-role",
        ),
        pytest.param(
            _append("[[port]\n"),
            ["site.toml: not valid TOML:"],
            id="not-toml",
        ),
    ],
)
def test_invalid_profile_is_rejected_with_a_message_naming_file_entry_and_fix(tmp_path: Path, edit, message_parts) -> None:
    # Given a profile with one mistake
    text = edit(MINIMAL)
    path = write(tmp_path, text)
    placeholders = {
        "{502}": str(line_of(text, "[[port]]", 3)),
        "{443}": str(line_of(text, "[[port]]", 2)),
        "{22}": str(line_of(text, "[[port]]", 1)),
    }

    # When it is loaded
    with pytest.raises(ProfileError) as caught:
        load_profile(path)

    # Then the message names the file, the entry and what is wrong
    message = str(caught.value)
    for part in message_parts:
        for placeholder, value in placeholders.items():
            part = part.replace(placeholder, value)
        assert part in message, f"{part!r} not in {message!r}"


def test_profile_found_by_name_must_carry_that_name_as_its_id(tmp_path: Path) -> None:
    # Given a file named other.toml whose id says "site"
    write(tmp_path, MINIMAL, name="other.toml")

    # When it is looked up by name, Then the mismatch is an error that says how to fix it
    with pytest.raises(ProfileError, match=r"id is 'site' but the file is named other\.toml.*set id = 'other'"):
        load_profile("other", search_dirs=[tmp_path])


def test_role_profile_must_declare_the_role_it_is_named_for(tmp_path: Path) -> None:
    # Given slave.toml whose [profile] says role = "master"
    write(tmp_path, MINIMAL.replace('id = "site"', 'id = "slave"'), name="slave.toml")

    # When it is loaded as the slave role's profile
    with pytest.raises(ProfileError) as caught:
        load_role_profile("slave", search_dirs=[tmp_path])

    # Then the error names both roles
    assert "[profile] role is 'master' but the file is the profile for role 'slave'" in str(caught.value)


def test_unknown_profile_name_lists_what_is_available(tmp_path: Path) -> None:
    # Given a search directory with one profile
    write(tmp_path, MINIMAL)

    # When a name that is not there is requested
    with pytest.raises(ProfileError) as caught:
        load_profile("mastr", search_dirs=[tmp_path])

    # Then the message says where it looked and what exists
    assert f"no profile named 'mastr' in {tmp_path}; available: site" in str(caught.value)


def test_missing_profile_file_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"cannot read profile .*nope\.toml"):
        load_profile(tmp_path / "nope.toml")


# --------------------------------------------------------------------------- finding user profiles


def test_user_profile_is_found_by_path_string_and_path_object(tmp_path: Path) -> None:
    # Given a user profile outside the repository
    path = write(tmp_path, MINIMAL)

    # When it is loaded by a string path and by a Path
    by_string = load_profile(str(path))
    by_path = load_profile(path)

    # Then both are the same file, referenced by the path given
    assert by_string.ref() == by_path.ref()
    assert by_string.ref().path == str(path)
    assert by_string.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_search_dir_profile_is_found_by_name_and_shadows_the_shipped_one(tmp_path: Path, monkeypatch) -> None:
    # Given a site "master" profile in a directory named by $PORTHOLE_PROFILES_DIR
    write(tmp_path, MINIMAL.replace('id = "site"', 'id = "master"'), name="master.toml")
    monkeypatch.setenv(PROFILES_DIR_ENV, str(tmp_path))

    # When "master" and the listing are requested without explicit search dirs
    profile = load_profile("master")
    names = {profile.id: profile.display_path for profile in list_profiles()}

    # Then the site file wins over profiles/master.toml, and the shipped slave is still listed
    assert profile.path == (tmp_path / "master.toml").resolve()
    assert profile.version == 2
    assert names == {"master": str(tmp_path / "master.toml"), "slave": "profiles/slave.toml"}


def test_explicit_search_dirs_replace_the_defaults(tmp_path: Path) -> None:
    # Given only a temporary search directory
    write(tmp_path, MINIMAL)

    # Then the shipped profiles are not visible through it
    assert [profile.id for profile in list_profiles([tmp_path])] == ["site"]
    with pytest.raises(ProfileError):
        load_profile("master", search_dirs=[tmp_path])


def test_port_lines_skip_look_alike_headers_inside_multiline_strings(tmp_path: Path) -> None:
    # Given a description whose multi-line text contains a "[[port]]" line
    text = MINIMAL.replace('role = "master"', 'role = "master"\ndescription = """\n[[port]]\nnot a table\n"""')
    path = write(tmp_path, text)

    # When it is loaded
    profile = load_profile(path)

    # Then each entry's line is still its real header
    assert profile.rule_for(ref("502")).line == line_of(text, "[[port]]", 4)
    assert profile.rule_for(ref("502")).line == header_line_of_entry(path, 502)


# --------------------------------------------------------------------------- diff rules


@pytest.mark.parametrize(
    ("port", "state", "kind", "finding_ids"),
    [
        # listed closed
        ("22", PortState.OPEN, DeviationKind.FORBIDDEN_OPEN, ["profile-forbidden-open"]),
        ("22", PortState.CLOSED, None, []),
        ("22", PortState.FILTERED, None, []),
        ("22", PortState.UNKNOWN, None, []),
        # not listed: [default] expect = closed
        ("8080", PortState.OPEN, DeviationKind.UNEXPECTED_OPEN, ["profile-unexpected-open"]),
        ("8080", PortState.CLOSED, None, []),
        ("161/udp", PortState.OPEN_FILTERED, None, [AMBIGUOUS_FINDING_ID]),
        # listed open
        ("443", PortState.OPEN, None, []),
        ("443", PortState.CLOSED, DeviationKind.EXPECTED_MISSING, ["profile-expected-missing"]),
        ("443", PortState.FILTERED, DeviationKind.EXPECTED_MISSING, ["profile-expected-missing"]),
        ("443", PortState.UNKNOWN, None, []),
        # optional never fires
        ("80", PortState.OPEN, None, []),
        ("80", PortState.CLOSED, None, []),
        ("80", PortState.FILTERED, None, []),
        # UDP: a reply is definite, silence is ambiguous either way
        ("53/udp", PortState.OPEN, DeviationKind.FORBIDDEN_OPEN, ["profile-forbidden-open"]),
        ("53/udp", PortState.CLOSED, None, []),
        ("53/udp", PortState.OPEN_FILTERED, None, [AMBIGUOUS_FINDING_ID]),
        ("5353/udp", PortState.OPEN_FILTERED, None, [AMBIGUOUS_FINDING_ID]),
        ("5353/udp", PortState.CLOSED, DeviationKind.EXPECTED_MISSING, ["profile-expected-missing"]),
        ("5353/udp", PortState.OPEN, None, []),
    ],
)
def test_diff_rule_table(site: Profile, port: str, state: PortState, kind: DeviationKind | None, finding_ids: list[str]) -> None:
    # When one observed port is diffed against the profile
    deviations, findings = diff([seen(port, state)], site)

    # Then exactly the documented deviation (if any) and findings come out
    assert [deviation.kind for deviation in deviations] == ([kind] if kind else [])
    assert [finding.id for finding in findings] == finding_ids


def test_udp_silence_yields_an_info_note_that_says_the_vantage_cannot_tell(site: Profile) -> None:
    # When a UDP port the profile expects closed stays silent
    _, (finding,) = diff([seen("53/udp", PortState.OPEN_FILTERED)], site)

    # Then the note is INFO, names the port and the setting, and says why it is not a verdict
    assert finding.severity is Severity.INFO
    assert finding.title.startswith("53/udp (DNS forwarder) did not answer: this vantage cannot tell whether it is open")
    assert "not counted as a deviation" in finding.detail
    assert finding.setting == "WAN Router: Off"
    assert finding.evidence[0] == "observed 53/udp open|filtered (reason timeout)"


def test_default_severities_and_entry_overrides(tmp_path: Path) -> None:
    # Given entries without severity, one with severity = "critical", and a [default] severity
    text = MINIMAL.replace('expect = "closed"\n\n[[port]]', 'expect = "closed"\nseverity = "low"\n\n[[port]]', 1)
    text = text.replace('service = "modbus"', 'service = "modbus"\nseverity = "critical"')
    profile = load_profile(write(tmp_path, text))

    # When each kind of violation is observed
    deviations, findings = diff(
        [seen("22", PortState.OPEN), seen("502", PortState.OPEN), seen("443", PortState.CLOSED), seen("8080", PortState.OPEN)],
        profile,
    )

    # Then forbidden-open defaults to high, expected-missing to medium, and overrides win
    assert [(d.port, d.kind, d.severity) for d in deviations] == [
        (22, DeviationKind.FORBIDDEN_OPEN, Severity.HIGH),
        (443, DeviationKind.EXPECTED_MISSING, Severity.MEDIUM),
        (502, DeviationKind.FORBIDDEN_OPEN, Severity.CRITICAL),
        (8080, DeviationKind.UNEXPECTED_OPEN, Severity.LOW),
    ]
    assert [finding.severity for finding in findings] == [d.severity for d in deviations]


def test_forbidden_open_finding_carries_setting_recommendation_evidence_and_line_anchored_source(
    shipped: dict[str, Profile],
) -> None:
    # Given Modbus answering on a unit checked against the master profile
    master = shipped["master"]
    observation = seen("502", PortState.OPEN, rtt_ms=1.25)

    # When it is diffed
    (deviation,), (finding,) = diff([observation], master)

    # Then the deviation and the finding say what, why, how to fix and which profile line fired
    entry_line = header_line_of_entry(REPOSITORY_PROFILES_DIR / "master.toml", 502)
    assert deviation.expected is Expectation.CLOSED and deviation.observed is PortState.OPEN
    assert finding.id == "profile-forbidden-open"
    assert finding.severity is Severity.HIGH
    assert finding.title == "502/tcp (Modbus TCP server) is open but the master profile requires it closed"
    assert finding.detail == master.rule_for(ref("502")).reason
    assert finding.setting == "Modbus TCP Server: Off"
    assert '"Modbus TCP Server: Off"' in finding.recommendation and "firewall 502/tcp" in finding.recommendation
    assert finding.evidence == (
        "observed 502/tcp open (reason syn-ack, rtt 1.2 ms)",
        'profile master v1: 502/tcp expect = "closed"',
    )
    assert finding.source == f"profiles/master.toml:{entry_line}#502/tcp"
    assert split_profile_source(finding.source) == ("profiles/master.toml", entry_line, ref("502"))
    assert (finding.port, finding.protocol) == (502, Protocol.TCP)


def test_forwarder_titles_say_where_the_forwarder_leads(shipped: dict[str, Profile]) -> None:
    # When the SSH forwarder to the slave is open on a master
    _, (finding,) = diff([seen("24", PortState.OPEN)], shipped["master"])

    # Then the title names it as such
    assert finding.title == "24/tcp (SSH forwarder to the slave) is open but the master profile requires it closed"


def test_unexpected_open_finding_points_at_the_default_rule(tmp_path: Path, site: Profile) -> None:
    # When a port the profile does not list is open
    (deviation,), (finding,) = diff([seen("8080", PortState.OPEN)], site)

    # Then the finding explains the default expectation and anchors to [default]
    assert finding.title == "8080/tcp is open but the site profile does not list it"
    assert "does not list 8080/tcp; its [default] expectation is closed" in finding.detail
    assert finding.setting is None
    assert "add a [[port]] entry" in finding.recommendation
    assert finding.source == f"{site.display_path}:{line_of(MINIMAL, '[default]')}#8080/tcp"
    assert finding.evidence[1] == 'profile site v2: 8080/tcp not listed, [default] expect = "closed"'
    assert deviation.expected is Expectation.CLOSED


def test_expected_missing_recommendation_distinguishes_refused_from_dropped(site: Profile) -> None:
    # When 443 is refused on one unit and silently dropped on another
    _, (refused,) = diff([seen("443", PortState.CLOSED)], site)
    _, (dropped,) = diff([seen("443", PortState.FILTERED)], site)

    # Then the titles give the observed state and the advice differs
    assert refused.title == "443/tcp (web UI over HTTPS) is closed but the site profile expects it open"
    assert "refused the connection" in refused.recommendation
    assert "firewall between this vantage and the unit" in dropped.recommendation


def test_diff_output_is_in_port_order_whatever_the_input_order(site: Profile) -> None:
    # Given observations in scan-completion order
    observations = [seen("8080", PortState.OPEN), seen("53/udp", PortState.OPEN), seen("22", PortState.OPEN)]

    # When diffed
    deviations, findings = diff(observations, site)

    # Then the output follows PortRef order (TCP then UDP, as the catalogue does), so reports are stable
    assert [(d.port, d.protocol) for d in deviations] == [(22, Protocol.TCP), (8080, Protocol.TCP), (53, Protocol.UDP)]
    assert [(f.port, f.protocol) for f in findings] == [(d.port, d.protocol) for d in deviations]


# --------------------------------------------------------------------------- role inference


def test_open_master_ports_infer_master(shipped: dict[str, Profile]) -> None:
    # When the hardened master's observations are judged with both profiles
    inference = infer_role(HARDENED_MASTER, shipped)

    # Then the role is master, on the master ports and the fit
    assert (inference.role, inference.method) == ("master", "inferred")
    assert inference.evidence == (
        "1600/tcp and 1601/tcp open (OCPP/DLM master ports)",
        "fits master profile with 0 deviations vs 2 for slave",
    )


def test_refused_master_ports_on_a_serving_unit_infer_slave(shipped: dict[str, Profile]) -> None:
    inference = infer_role(HARDENED_SLAVE, shipped)

    assert (inference.role, inference.method) == ("slave", "inferred")
    assert inference.evidence == (
        "1600/tcp, 1601/tcp closed: no master ports",
        "fits slave profile with 0 deviations vs 2 for master",
    )


def test_one_open_master_port_is_enough_and_the_other_state_is_shown(shipped: dict[str, Profile]) -> None:
    observations = [seen("443", PortState.OPEN), seen("1600", PortState.OPEN), seen("1601", PortState.CLOSED)]

    inference = infer_role(observations, shipped)

    assert inference.role == "master"
    assert inference.evidence[0] == "1600/tcp open (OCPP/DLM master port); 1601/tcp closed"


@pytest.mark.parametrize(
    ("observations", "reason"),
    [
        pytest.param([], "no port was probed", id="nothing-observed"),
        pytest.param(
            [seen(f"{p.number}/{p.protocol.value}", PortState.UNKNOWN) for p in default_catalog().ports],
            "no port was probed",
            id="host-down-not-probed",
        ),
        pytest.param(unit(served=set(), filtered={f"{p.number}/{p.protocol.value}" for p in default_catalog().ports}),
                     "no port is open", id="everything-filtered"),
        pytest.param(unit(served=set()), "no port is open", id="everything-refused"),
    ],
)
def test_nothing_distinguishing_leaves_the_role_undetermined(observations, reason: str, shipped: dict[str, Profile]) -> None:
    # When nothing was open (or nothing was probed)
    inference = infer_role(observations, shipped)

    # Then no role is guessed, and the first evidence line says why
    assert (inference.role, inference.method) == (None, "undetermined")
    assert reason in inference.evidence[0]


def test_filtered_master_ports_fall_back_to_the_fit_and_say_so(shipped: dict[str, Profile]) -> None:
    # Given a unit serving its web UI whose master ports are dropped by a firewall
    observations = unit(served={"443/tcp", "444/tcp", "445/tcp"}, filtered={"1600/tcp", "1601/tcp"})

    # When the role is inferred
    inference = infer_role(observations, shipped)

    # Then the fit decides, and the evidence says the master ports proved nothing
    assert inference.role == "slave"
    assert inference.evidence == (
        "1600/tcp filtered, 1601/tcp filtered: a firewall may hide master ports, so they prove nothing",
        "fits slave profile with 0 deviations vs 2 for master",
    )


def test_extra_clue_decides_when_master_ports_prove_nothing(shipped: dict[str, Profile]) -> None:
    # Given filtered master ports and a clue from elsewhere (the TLS-certificate seam)
    observations = unit(served={"443/tcp", "444/tcp", "445/tcp"}, filtered={"1600/tcp", "1601/tcp"})
    clue = RoleClue(role="master", line="444/tcp presents the same certificate as 443/tcp (master forwarding pattern)")

    inference = infer_role(observations, shipped, clues=[clue])

    # Then the clue decides and is cited first, with the contrary fit still shown
    assert inference.role == "master"
    assert inference.evidence[0] == clue.line
    assert "fits slave profile with 0 deviations vs 2 for master" in inference.evidence


def test_conflicting_clues_leave_the_role_undetermined(shipped: dict[str, Profile]) -> None:
    clue = RoleClue(role="slave", line="445/tcp presents the same certificate as 443/tcp (slave forwarding pattern)")

    inference = infer_role(HARDENED_MASTER, shipped, clues=[clue])

    assert (inference.role, inference.method) == (None, "undetermined")
    assert inference.evidence[0] == "conflicting evidence (master vs slave)"
    assert clue.line in inference.evidence


def test_a_fit_tie_is_undetermined(shipped: dict[str, Profile]) -> None:
    # Given a unit where master ports were not probed and the rest fits both profiles equally
    observations = [seen("443", PortState.OPEN), seen("22", PortState.OPEN)]

    inference = infer_role(observations, shipped)

    assert inference.role is None
    assert inference.evidence[-1] == "fits the master and slave profiles equally (1 deviation each)"
    assert "1600/tcp, 1601/tcp not probed: no master-port evidence" in inference.evidence


def test_fit_against_a_single_profile_is_no_evidence(shipped: dict[str, Profile]) -> None:
    # Given only the master profile and a unit whose master ports prove nothing
    observations = unit(served={"443/tcp", "444/tcp", "445/tcp"}, filtered={"1600/tcp", "1601/tcp"})

    # When the role is inferred
    inference = infer_role(observations, {"master": shipped["master"]})

    # Then one profile's deviation count is shown but decides nothing
    assert inference.role is None
    assert inference.evidence[0] == "no clue, and a single profile gives the fit nothing to compare"
    assert inference.evidence[-1] == "fits master profile with 2 deviations"


# --------------------------------------------------------------------------- capture


def _report_host() -> dict:
    """One host as the JSON report holds it: encoded with the report encoder, through JSON."""
    def port(spec: str, state: PortState, reason: Reason, rtt: float | None = None, detail: str | None = None):
        r = ref(spec)
        return PortObservation(
            port=r.number, protocol=r.protocol, state=state, reason=reason,
            service=default_catalog().service_of(r) or "unknown", rtt_ms=rtt, detail=detail,
        )

    host = HostResult(
        address="198.18.0.10",
        status=HostStatus.UP,
        status_reason="syn-ack",
        ports=(
            port("22", PortState.FILTERED, Reason.TIMEOUT),
            port("53/udp", PortState.OPEN_FILTERED, Reason.TIMEOUT),
            port("80", PortState.OPEN, Reason.SYN_ACK, 0.4),
            port("443", PortState.OPEN, Reason.SYN_ACK, 0.5),
            port("502", PortState.CLOSED, Reason.RESET, 0.3),
            port("1600", PortState.OPEN, Reason.SYN_ACK, 0.6),
            port("1900/udp", PortState.CLOSED, Reason.ICMP, 0.2),
            port("8080", PortState.CLOSED, Reason.RESET, 0.3),
            port("15118/udp", PortState.UNKNOWN, Reason.NOT_PROBED, detail="scan interrupted"),
        ),
    )
    return json.loads(json.dumps(to_jsonable(host)))


def test_captured_profile_loads_back_and_diffs_to_nothing(tmp_path: Path) -> None:
    # Given a known-good unit's host entry from a JSON report
    host = _report_host()

    # When a profile is captured from it and loaded back
    text = capture_profile(host, profile_id="site-a-master", role="master", source="scan.json", captured_on="2026-01-10")
    profile = load_profile(write(tmp_path, text, name="site-a-master.toml"))
    deviations, findings = diff(observations_from_host(host), profile)

    # Then the same observations show no deviation and no note
    assert (deviations, findings) == ((), ())
    assert (profile.id, profile.role, profile.version) == ("site-a-master", "master", 1)


def test_capture_maps_states_to_expectations_with_reasons_and_settings(tmp_path: Path) -> None:
    text = capture_profile(_report_host(), profile_id="site", role="master", source="scan.json", captured_on="2026-01-10")
    profile = load_profile(write(tmp_path, text))

    expectations = {str(port): rule.expect.value for port, rule in profile.ports.items()}
    assert expectations == {
        "22/tcp": "closed",
        "53/udp": "optional",
        "80/tcp": "open",
        "443/tcp": "open",
        "502/tcp": "closed",
        "1600/tcp": "open",
        "1900/udp": "closed",
        "8080/tcp": "closed",
    }
    ssh = profile.rule_for(ref("22"))
    assert ssh.reason == "captured from 198.18.0.10 on 2026-01-10 (filtered, timeout)"
    assert (ssh.setting, ssh.service) == ("SSH access: Off", "ssh")
    uncatalogued = profile.rule_for(ref("8080"))
    assert uncatalogued.setting == "no documented controller setting: firewall 8080/tcp"
    assert uncatalogued.service is None
    # the comments say where it came from, why 53/udp is optional and what was not probed
    assert "# Captured from 198.18.0.10 on 2026-01-10 by porthole" in text
    assert "# from the report scan.json." in text
    optional_comment = r"# optional: the port gave no answer \(open\|filtered\).*\n"
    assert re.search(optional_comment + r'\[\[port\]\]\nprotocol = "udp"\nnumber = 53\n', text)
    assert "# Not probed in the source scan, so left to [default]: 15118/udp" in text


def test_captured_profile_reports_later_drift(tmp_path: Path) -> None:
    # Given a profile captured from the known-good unit
    host = _report_host()
    text = capture_profile(host, profile_id="site", role="master", source="scan.json", captured_on="2026-01-10")
    profile = load_profile(write(tmp_path, text))

    # When SSH opens, the master port goes away and a new port appears
    drifted = [
        seen("22", PortState.OPEN),
        seen("1600", PortState.CLOSED),
        seen("8888", PortState.OPEN),
        seen("15118/udp", PortState.OPEN),
    ]
    deviations, _ = diff(drifted, profile)

    # Then each change is reported with its kind
    assert [(d.port, d.kind) for d in deviations] == [
        (22, DeviationKind.FORBIDDEN_OPEN),
        (1600, DeviationKind.EXPECTED_MISSING),
        (8888, DeviationKind.UNEXPECTED_OPEN),
        (15118, DeviationKind.UNEXPECTED_OPEN),
    ]


def test_capture_escapes_hostile_text_so_the_toml_stays_valid(tmp_path: Path) -> None:
    # Given a host whose address field carries quotes, a newline and a control character
    host = _report_host()
    host["address"] = 'evil"\n[[port]]\x7f\\'

    # When captured with a source name that does the same
    text = capture_profile(host, profile_id="site", role="master", source='a"\nb.json', captured_on="2026-01-10")
    profile = load_profile(write(tmp_path, text))

    # Then the file loads with the same entries, and the text survives in the reason verbatim
    assert len(profile.ports) == 8
    assert profile.rule_for(ref("22")).reason.startswith('captured from evil"\n[[port]]\x7f\\ on 2026-01-10')


def test_capture_rejects_a_malformed_host_entry() -> None:
    with pytest.raises(ReportInputError, match=r"host 198\.18\.0\.10: ports\[1\]: missing 'state'"):
        capture_profile(
            {"address": "198.18.0.10", "ports": [{"port": 22, "protocol": "tcp", "reason": "reset"}]},
            profile_id="site", role="master", source="scan.json",
        )
    with pytest.raises(ReportInputError, match="expected an object with a 'ports' list"):
        capture_profile({"address": "198.18.0.10"}, profile_id="site", role="master", source="scan.json")


def test_capture_rejects_a_profile_id_the_loader_would_refuse() -> None:
    with pytest.raises(ProfileError, match="profile id 'Site A' must be a lowercase name"):
        capture_profile(_report_host(), profile_id="Site A", role="master", source="scan.json")


# --------------------------------------------------------------------------- show


def test_render_profile_lists_every_port_with_expectation_severity_and_reason(shipped: dict[str, Profile]) -> None:
    text = render_profile(shipped["slave"])

    assert text.startswith("profile slave v1 (role slave)\nfile    profiles/slave.toml  sha256 ")
    assert "default closed: an open port the profile does not list is unexpected-open (medium)" in text
    assert re.search(r"^1600/tcp\s+closed\s+medium\s+ocpp-dlm\s+Master/slave role", text, re.MULTILINE)
    assert re.search(r"^80/tcp\s+optional\s+-\s+http\s+HTTPS for web interface: On$", text, re.MULTILINE)
    assert re.search(r"^\s+why: Modbus TCP has no TLS and no password", text, re.MULTILINE)
    rows = [line for line in text.splitlines() if re.match(r"^\d+/(tcp|udp)\s", line)]
    assert len(rows) == len(default_catalog().ports)
