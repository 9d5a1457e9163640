"""The site-file loader: valid sites load into frozen data, every mistake names file and key."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from lab.site import HostMode, Role, expected_port_states, load_site
from porthole.errors import LabError
from porthole.model import PortRef, PortState, Protocol

VALID_SITE = """
[site]
name = "t0"
subnet = "198.19.0.0/24"
scanner = "198.19.0.1"

[[controller]]
name = "box"
role = "master"
address = "198.19.0.10"
filtered = ["2222/tcp", "5353/udp"]
description = "a master with ssh and dns"

[[controller.service]]
kind = "sshd"
ports = [22]
options = { password_authentication = true }

[[controller.service]]
kind = "dnsmasq"
ports = ["53/udp", "53/tcp"]
options = { open_resolver = true }

[[controller]]
name = "dark"
address = "198.19.0.11"
host = "filtered"
"""


def write_site(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_site_loads_controllers_services_and_ports(tmp_path: Path) -> None:
    # Given a site file with one normal and one whole-host-filtered controller
    path = write_site(tmp_path, VALID_SITE)

    # When it is loaded
    site = load_site(path)

    # Then every field arrives typed and in file order
    assert site.name == "t0"
    assert site.subnet == ipaddress.IPv4Network("198.19.0.0/24")
    assert site.scanner == ipaddress.IPv4Address("198.19.0.1")
    assert site.link_delay_ms == 0
    assert site.source == path
    box, dark = site.controllers
    assert (box.name, box.role, box.host) == ("box", Role.MASTER, HostMode.NORMAL)
    assert box.address == ipaddress.IPv4Address("198.19.0.10")
    assert box.filtered == ("2222/tcp", "5353/udp")
    assert [service.kind for service in box.services] == ["sshd", "dnsmasq"]
    assert box.services[1].ports == (PortRef(Protocol.UDP, 53), PortRef(Protocol.TCP, 53))
    assert box.services[0].options["password_authentication"] is True
    assert (dark.role, dark.host, dark.services) == (Role.NONE, HostMode.FILTERED, ())


def test_expected_port_states_follow_services_firewall_and_host_mode(tmp_path: Path) -> None:
    # Given the valid site
    site = load_site(write_site(tmp_path, VALID_SITE))
    ports = [PortRef(Protocol.TCP, 22), PortRef(Protocol.TCP, 2222), PortRef(Protocol.TCP, 23),
             PortRef(Protocol.UDP, 53), PortRef(Protocol.UDP, 5353), PortRef(Protocol.UDP, 161)]

    # When the expected states are computed for both controllers
    box = expected_port_states(site.controller("box"), ports)
    dark = expected_port_states(site.controller("dark"), ports)

    # Then served ports are open, dropped ones silent, the rest closed; a filtered host is all silent
    assert box == {
        (Protocol.TCP, 22): PortState.OPEN,
        (Protocol.TCP, 2222): PortState.FILTERED,
        (Protocol.TCP, 23): PortState.CLOSED,
        (Protocol.UDP, 53): PortState.OPEN,
        (Protocol.UDP, 5353): PortState.OPEN_FILTERED,
        (Protocol.UDP, 161): PortState.CLOSED,
    }
    assert set(dark.values()) == {PortState.FILTERED, PortState.OPEN_FILTERED}
    assert dark[("udp", 161)] == PortState.OPEN_FILTERED


def test_unknown_key_is_an_error_naming_the_key_and_the_file(tmp_path: Path) -> None:
    # Given a controller with a misspelt key
    path = write_site(tmp_path, VALID_SITE.replace('role = "master"', 'roll = "master"'))

    # When / Then loading fails naming the file, the controller and the key
    with pytest.raises(LabError) as raised:
        load_site(path)
    message = str(raised.value)
    assert str(path) in message
    assert "roll" in message
    assert "'box'" in message


def test_unknown_key_in_site_header_is_an_error(tmp_path: Path) -> None:
    # Given a [site] table with an unknown key
    path = write_site(tmp_path, VALID_SITE.replace('scanner = "198.19.0.1"', 'scanner = "198.19.0.1"\ngateway = "198.19.0.254"'))

    # When / Then the error names [site] and the key
    with pytest.raises(LabError, match=r"\[site\]: unknown key\(s\) gateway"):
        load_site(path)


def test_address_outside_the_subnet_is_rejected(tmp_path: Path) -> None:
    # Given a controller whose address is on another subnet
    path = write_site(tmp_path, VALID_SITE.replace("198.19.0.10", "198.19.1.10"))

    # When / Then
    with pytest.raises(LabError, match=r"198\.19\.1\.10 is not a host address inside the site subnet 198\.19\.0\.0/24"):
        load_site(path)


def test_subnet_outside_the_benchmarking_space_is_rejected(tmp_path: Path) -> None:
    # Given a site on a private range that could exist on a real network
    text = VALID_SITE.replace("198.19.0.", "192.168.7.")
    path = write_site(tmp_path, text)

    # When / Then the loader insists on 198.18.0.0/15
    with pytest.raises(LabError, match=r"must lie inside 198\.18\.0\.0/15"):
        load_site(path)


def test_duplicate_address_is_rejected_naming_both_users(tmp_path: Path) -> None:
    # Given two controllers on the same address
    path = write_site(tmp_path, VALID_SITE.replace("198.19.0.11", "198.19.0.10"))

    # When / Then
    with pytest.raises(LabError, match=r"'dark': address 198\.19\.0\.10 is already used by controller 'box'"):
        load_site(path)


def test_controller_on_the_scanner_address_is_rejected(tmp_path: Path) -> None:
    path = write_site(tmp_path, VALID_SITE.replace("198.19.0.11", "198.19.0.1"))

    with pytest.raises(LabError, match=r"already used by the scanner"):
        load_site(path)


@pytest.mark.parametrize("spec", ['"22/sctp"', '"ssh"', "0", "70000", '"-1"'])
def test_bad_port_spec_is_rejected(tmp_path: Path, spec: str) -> None:
    # Given a filtered list with an invalid port
    path = write_site(tmp_path, VALID_SITE.replace('filtered = ["2222/tcp", "5353/udp"]', f"filtered = [{spec}]"))

    # When / Then the error names the list and the bad entry
    with pytest.raises(LabError, match=r"'box': filtered: .*(port|protocol)"):
        load_site(path)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('name = "t0"', 'name = "toolong"', r"name 'toolong' must be 1-6 characters"),
        ('name = "box"', 'name = "controller"', r"name 'controller' must be 1-8 characters"),
        ('name = "box"', 'name = "sw"', r"name 'sw' must be 1-8 characters .* not scan or sw"),
    ],
)
def test_names_that_would_not_fit_interface_or_namespace_names_are_rejected(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    # Given a site or controller name that is too long (or reserved)
    path = write_site(tmp_path, VALID_SITE.replace(old, new, 1))

    # When / Then
    with pytest.raises(LabError, match=expected):
        load_site(path)


def test_port_both_served_and_filtered_is_a_contradiction(tmp_path: Path) -> None:
    path = write_site(tmp_path, VALID_SITE.replace('filtered = ["2222/tcp", "5353/udp"]', 'filtered = ["22/tcp"]'))

    with pytest.raises(LabError, match=r"22/tcp is both served and filtered"):
        load_site(path)


def test_unknown_service_kind_lists_the_available_kinds(tmp_path: Path) -> None:
    path = write_site(tmp_path, VALID_SITE.replace('kind = "sshd"', 'kind = "telnetd"'))

    with pytest.raises(LabError, match=r"unknown service kind 'telnetd'; available: .*dnsmasq.*sshd"):
        load_site(path)


def test_dnsmasq_must_declare_udp_and_tcp_of_one_port(tmp_path: Path) -> None:
    path = write_site(tmp_path, VALID_SITE.replace('ports = ["53/udp", "53/tcp"]', 'ports = ["53/udp"]'))

    with pytest.raises(LabError, match=r'dnsmasq serves one port number over both UDP and TCP'):
        load_site(path)


def test_daemon_options_are_strict(tmp_path: Path) -> None:
    path = write_site(tmp_path, VALID_SITE.replace("password_authentication = true", "password_auth = true"))

    with pytest.raises(LabError, match=r"unknown option\(s\) password_auth; allowed: password_authentication"):
        load_site(path)


def test_whole_host_mode_cannot_carry_services(tmp_path: Path) -> None:
    path = write_site(tmp_path, VALID_SITE.replace('host = "filtered"', 'host = "filtered"\nfiltered = ["80/tcp"]'))

    with pytest.raises(LabError, match=r"host = 'filtered' describes the whole host"):
        load_site(path)


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = write_site(tmp_path, "[site\nname = 1")

    with pytest.raises(LabError, match=rf"{path}: not valid TOML"):
        load_site(path)


def test_default_site_loads_with_the_controllers_the_integration_tests_expect() -> None:
    # Given the shipped default site
    from lab.control import DEFAULT_SITE

    # When it is loaded
    site = load_site(DEFAULT_SITE)

    # Then it has the five documented controllers, and 198.18.0.20-29 stay empty
    assert site.name == "demo"
    assert {controller.name: controller.role for controller in site.controllers} == {
        "master": Role.MASTER, "slave": Role.SLAVE, "misconf": Role.MASTER, "fragile": Role.SLAVE, "hostile": Role.NONE,
    }
    used = {controller.address for controller in site.controllers}
    assert not used & {ipaddress.IPv4Address(f"198.18.0.{host}") for host in range(20, 30)}
