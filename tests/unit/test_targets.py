"""Target parsing, excludes, de-duplication, the scope guard and the public-address guard.

Addresses are from 198.18.0.0/15 (the lab's benchmarking space) and the documentation
blocks; nothing here sends a packet. Host names go through an injected resolver, except
``localhost``, which uses the real ``getaddrinfo`` (answered from /etc/hosts).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import socket
import sys
import types
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.errors import ScopeError, TargetError, UsageError
from porthole.targets import DEFAULT_MAX_ADDRESSES, Target, TargetSet, parse_targets

LAB_BASE = int(IPv4Address("198.18.0.0"))


def addresses_of(target_set: TargetSet) -> list[str]:
    return [str(target.address) for target in target_set]


def lab_resolver(table: dict[str, list[str]]) -> Callable[[str], list[IPv4Address | IPv6Address]]:
    """A resolver that answers from ``table`` and fails like getaddrinfo for anything else."""

    def resolve(name: str) -> list[IPv4Address | IPv6Address]:
        if name not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ip_address(text) for text in table[name]]

    return resolve


# ------------------------------------------------------------------ accepted forms


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("198.18.0.5", ["198.18.0.5"]),
        ("  198.18.0.5\t", ["198.18.0.5"]),
        ("198.18.0.0/30", ["198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3"]),
        ("198.18.0.4/31", ["198.18.0.4", "198.18.0.5"]),
        ("198.18.0.9/32", ["198.18.0.9"]),
        # host bits set: nmap reads it as the enclosing block
        ("198.18.0.6/30", ["198.18.0.4", "198.18.0.5", "198.18.0.6", "198.18.0.7"]),
        ("198.18.0.0/255.255.255.254", ["198.18.0.0", "198.18.0.1"]),
        ("198.18.0.10-12", ["198.18.0.10", "198.18.0.11", "198.18.0.12"]),
        ("198.18.0.10-10", ["198.18.0.10"]),
        ("198.18.0.10-198.18.0.12", ["198.18.0.10", "198.18.0.11", "198.18.0.12"]),
        ("198.18.0.254-198.18.1.1", ["198.18.0.254", "198.18.0.255", "198.18.1.0", "198.18.1.1"]),
        ("::1", ["::1"]),
        ("[::1]", ["::1"]),
        ("[2001:db8::5]", ["2001:db8::5"]),
        ("2001:db8::/127", ["2001:db8::", "2001:db8::1"]),
        ("2001:db8::fe-2001:db8::101", ["2001:db8::fe", "2001:db8::ff", "2001:db8::100", "2001:db8::101"]),
        ("fe80::1", ["fe80::1"]),
        ("fd00::5", ["fd00::5"]),
        ("127.0.0.1", ["127.0.0.1"]),
        ("10.1.2.3", ["10.1.2.3"]),
        ("100.64.0.1", ["100.64.0.1"]),
        ("192.0.2.7", ["192.0.2.7"]),
    ],
)
def test_each_accepted_form_yields_exactly_its_addresses(spec: str, expected: list[str]) -> None:
    # Given one spec in an accepted form
    # When it is parsed
    target_set = parse_targets([spec])
    # Then it yields exactly those addresses, in address order, tagged with the spec
    assert addresses_of(target_set) == expected
    assert len(target_set) == len(expected)
    assert {target.spec for target in target_set} == {spec.strip()}
    assert all(target.hostname is None for target in target_set)


@pytest.mark.parametrize(
    ("spec", "max_addresses", "expected_count", "first", "last"),
    [
        ("198.18.0.0/16", DEFAULT_MAX_ADDRESSES, 65_536, "198.18.0.0", "198.18.255.255"),
        ("198.18.0.0/15", 1 << 17, 131_072, "198.18.0.0", "198.19.255.255"),
        ("10.0.0.0/8", 1 << 24, 16_777_216, "10.0.0.0", "10.255.255.255"),
        ("2001:db8::/112", DEFAULT_MAX_ADDRESSES, 65_536, "2001:db8::", "2001:db8::ffff"),
        ("198.18.0.0-198.18.3.255", DEFAULT_MAX_ADDRESSES, 1024, "198.18.0.0", "198.18.3.255"),
        ("198.18.0.0-255", DEFAULT_MAX_ADDRESSES, 256, "198.18.0.0", "198.18.0.255"),
    ],
)
def test_large_blocks_are_counted_without_enumerating(
    spec: str, max_addresses: int, expected_count: int, first: str, last: str
) -> None:
    # Given a large block (a /8 would take seconds and gigabytes if materialised)
    # When it is parsed
    target_set = parse_targets([spec], max_addresses=max_addresses)
    # Then its count is exact and its first address is the block's first
    assert len(target_set) == expected_count
    assert str(next(iter(target_set)).address) == first
    # and (checked on the small ones only) the last address is the block's last
    if expected_count <= 1 << 16:
        *_, final = iter(target_set)
        assert str(final.address) == last


def test_a_slash_16_is_iterated_lazily() -> None:
    # Given a /16 sweep
    target_set = parse_targets(["198.18.0.0/16"])
    # When we ask for an iterator and take three addresses
    iterator = iter(target_set)
    first_three = list(itertools.islice(iterator, 3))
    # Then the iterator is a generator (nothing was materialised up front)
    assert isinstance(iterator, types.GeneratorType)
    assert [str(target.address) for target in first_three] == ["198.18.0.0", "198.18.0.1", "198.18.0.2"]
    # and it resumes where it stopped, and the count is the whole block
    assert str(next(iterator).address) == "198.18.0.3"
    assert len(target_set) == 65_536
    # and the set is re-iterable from the start
    assert str(next(iter(target_set)).address) == "198.18.0.0"


def test_targets_keep_input_order_then_address_order() -> None:
    # Given specs not in address order
    target_set = parse_targets(["198.18.0.9", "198.18.0.1-2", "::1", "127.0.0.1"])
    # Then iteration follows the input, and address order inside each spec
    assert addresses_of(target_set) == ["198.18.0.9", "198.18.0.1", "198.18.0.2", "::1", "127.0.0.1"]


def test_overlapping_specs_yield_each_address_once_for_the_first_spec() -> None:
    # Given three specs that overlap each other
    target_set = parse_targets(["198.18.0.0/30", "198.18.0.2-5", "198.18.0.1", "198.18.0.4/31"])
    # Then each address is yielded once, attributed to the first spec naming it
    assert [(str(target.address), target.spec) for target in target_set] == [
        ("198.18.0.0", "198.18.0.0/30"),
        ("198.18.0.1", "198.18.0.0/30"),
        ("198.18.0.2", "198.18.0.0/30"),
        ("198.18.0.3", "198.18.0.0/30"),
        ("198.18.0.4", "198.18.0.2-5"),
        ("198.18.0.5", "198.18.0.2-5"),
    ]
    assert len(target_set) == 6


def test_de_duplication_of_two_slash_16s_is_counted_by_interval_math() -> None:
    # Given the same /16 twice, written two ways, plus one address inside it
    target_set = parse_targets(["198.18.0.0/16", "198.18.0.0-198.18.255.255", "198.18.7.7"])
    # Then the count is one /16
    assert len(target_set) == 65_536


def test_target_set_is_immutable_and_records_the_inputs() -> None:
    # Given a parsed set
    target_set = parse_targets([" 198.18.0.0/30 "], exclude=["198.18.0.0"], scope=["198.18.0.0/24"])
    # Then the report fields are the stripped inputs, as tuples
    assert target_set.specs == ("198.18.0.0/30",)
    assert target_set.excluded == ("198.18.0.0",)
    assert target_set.scope == ("198.18.0.0/24",)
    # and neither the set nor a target can be changed
    with pytest.raises(dataclasses.FrozenInstanceError):
        target_set.specs = ("198.18.0.9",)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        next(iter(target_set)).address = IPv4Address("198.18.0.9")  # type: ignore[misc]


def test_membership_test_uses_the_final_set() -> None:
    target_set = parse_targets(["198.18.0.0/24"], exclude=["198.18.0.7"])
    assert IPv4Address("198.18.0.6") in target_set
    assert IPv4Address("198.18.0.7") not in target_set
    assert IPv4Address("198.18.1.0") not in target_set
    assert "198.18.0.6" not in target_set  # strings are not addresses


# -------------------------------------------------------------------- host names


def test_localhost_resolves_through_the_system_resolver_to_loopback() -> None:
    # Given the name localhost and the real getaddrinfo
    # When it is parsed
    target_set = parse_targets(["localhost"])
    targets = list(target_set)
    # Then it yields loopback addresses only, tagged with the host name
    assert targets
    assert all(target.address.is_loopback for target in targets)
    assert all(target.hostname == "localhost" and target.spec == "localhost" for target in targets)


def test_every_resolved_address_of_a_host_name_is_a_target() -> None:
    # Given a name with two A records and one AAAA record
    resolve = lab_resolver({"charger.lab": ["198.18.0.20", "2001:db8::20", "198.18.0.10"]})
    # When it is parsed
    target_set = parse_targets(["charger.lab"], resolve=resolve)
    # Then all three are targets, IPv4 first then IPv6, in address order
    assert addresses_of(target_set) == ["198.18.0.10", "198.18.0.20", "2001:db8::20"]
    assert {target.hostname for target in target_set} == {"charger.lab"}


def test_an_address_named_again_by_host_name_keeps_the_first_spec() -> None:
    resolve = lab_resolver({"charger.lab": ["198.18.0.10"]})
    target_set = parse_targets(["198.18.0.10", "charger.lab"], resolve=resolve)
    assert list(target_set) == [Target(address=IPv4Address("198.18.0.10"), spec="198.18.0.10")]


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ({}, "does not resolve"),
        ({"ghost.lab": []}, "resolves to no addresses"),
        ({"ghost.lab": ["fe80::1%eth0"]}, "zone id"),
    ],
)
def test_a_host_name_that_does_not_give_usable_addresses_is_a_target_error(
    table: dict[str, list[str]], reason: str
) -> None:
    # Given a resolver that fails, answers nothing, or answers a zoned address
    # When the name is parsed
    with pytest.raises(TargetError) as caught:
        parse_targets(["ghost.lab"], resolve=lab_resolver(table))
    # Then the error names the host and says why
    assert "'ghost.lab'" in str(caught.value)
    assert reason in str(caught.value)


def test_an_unresolvable_exclude_is_an_error_too() -> None:
    with pytest.raises(TargetError, match=r"invalid --exclude 'ghost\.lab'.*does not resolve"):
        parse_targets(["198.18.0.0/30"], exclude=["ghost.lab"], resolve=lab_resolver({}))


# ------------------------------------------------------------------ bad targets


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("198.18.0.300", "not an IPv4/IPv6 address, CIDR (198.18.0.0/24), range (198.18.0.10-20), host name or @file"),
        ("3232235777", "not an IPv4/IPv6 address"),
        ("198.18.0-3.1", "not an IPv4/IPv6 address"),
        ("", "empty"),
        ("   ", "empty"),
        ("198.18.0.1 198.18.0.2", "whitespace"),
        ("198.18.0.20-10", "range end 198.18.0.10 is before its start 198.18.0.20"),
        ("198.18.0.20-198.18.0.10", "is before its start"),
        ("198.18.0.10-256", "not an octet (0-255)"),
        ("198.18.0.10-", "range end '' is not an address"),
        ("198.18.0.10-x", "range end 'x' is not an address"),
        ("198.18.0.1-::1", "range mixes IPv4 198.18.0.1 and IPv6 ::1"),
        ("2001:db8::1-198.18.0.1", "range mixes IPv6"),
        ("2001:db8::1-ff", "IPv6 ranges need both ends in full"),
        ("2001:db8::2-2001:db8::1", "is before its start"),
        ("198.18.0.0/33", "prefix length /33 is longer than an IPv4 address (32 bits)"),
        ("2001:db8::/129", "prefix length /129 is longer than an IPv6 address (128 bits)"),
        ("198.18.0.0/abc", "'abc' after the '/' is not a prefix length"),
        ("198.18.0.0/", "after the '/' is not a prefix length"),
        ("charger.lab/24", "before the '/' is not an IPv4/IPv6 address"),
        ("fe80::1%eth0", "zone ids (%interface) are not supported"),
        ("[198.18.0.1]", "brackets only enclose a single IPv6 address"),
        ("[::1", "brackets only enclose a single IPv6 address"),
        ("-5", "not an IPv4/IPv6 address"),
        ("bad_host!", "not an IPv4/IPv6 address"),
        ("chärger.lab", "not an IPv4/IPv6 address"),
        ("a" * 64 + ".lab", "not an IPv4/IPv6 address"),
        ("-charger.lab", "not an IPv4/IPv6 address"),
        ("@", "'@' needs a file name"),
        ("@  ", "'@' needs a file name"),
    ],
)
def test_a_bad_target_is_refused_naming_it_and_saying_why(spec: str, reason: str) -> None:
    # Given a target that is not in any accepted form
    # When it is parsed (alongside a good one, which must not hide it)
    with pytest.raises(TargetError) as caught:
        parse_targets(["198.18.0.1", spec], resolve=lab_resolver({}))
    # Then the message quotes the input and explains
    message = str(caught.value)
    assert message.startswith(f"invalid target {spec!r}")
    assert reason in message


def test_no_targets_at_all_is_an_error() -> None:
    with pytest.raises(TargetError, match="no targets given: give an IPv4/IPv6 address"):
        parse_targets([])


def test_a_single_string_instead_of_a_list_is_a_programming_error() -> None:
    # A str is a Sequence[str] of characters; accepting it would scan '1', '9', '8'...
    with pytest.raises(TypeError, match="specs must be a sequence of strings"):
        parse_targets("198.18.0.1")


def test_a_host_name_that_looks_valid_is_resolved_not_refused() -> None:
    # Given names that are syntactically fine: hyphens, digits, underscores, trailing dot
    names = ["charger-01.lab", "10-0-0-1.lab", "_ship.lab", "charger.lab."]
    resolve = lab_resolver({name: [f"198.18.0.{index}"] for index, name in enumerate(names, start=1)})
    # When parsed
    target_set = parse_targets(names, resolve=resolve)
    # Then each resolves
    assert addresses_of(target_set) == ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4"]


# ---------------------------------------------------------------------- excludes


@pytest.mark.parametrize(
    ("exclude", "expected_last_octets"),
    [
        (["198.18.0.1"], [0, 2, 3, 4, 5, 6, 7]),
        (["198.18.0.0/30"], [4, 5, 6, 7]),
        (["198.18.0.2-5"], [0, 1, 6, 7]),
        (["198.18.0.1-198.18.0.2"], [0, 3, 4, 5, 6, 7]),
        (["198.18.0.0", "198.18.0.7"], [1, 2, 3, 4, 5, 6]),
        # excludes outside the targets (and outside any scope) are harmless
        (["203.0.113.0/24", "2001:db8::1"], [0, 1, 2, 3, 4, 5, 6, 7]),
        (["gateway.lab"], [0, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_excludes_remove_addresses(exclude: list[str], expected_last_octets: list[int]) -> None:
    # Given a /29 and an exclude list
    resolve = lab_resolver({"gateway.lab": ["198.18.0.1"]})
    # When parsed
    target_set = parse_targets(["198.18.0.0/29"], exclude=exclude, scope=["198.18.0.0/24"], resolve=resolve)
    # Then exactly the excluded addresses are gone and the count agrees
    assert addresses_of(target_set) == [f"198.18.0.{octet}" for octet in expected_last_octets]
    assert len(target_set) == len(expected_last_octets)


def test_excludes_from_a_file(tmp_path: Path) -> None:
    # Given an exclude file with a comment, a blank line and an inline comment
    excludes = tmp_path / "excludes.txt"
    excludes.write_text("# gateways\n\n198.18.0.1   # master's router\n198.18.0.254-255\n", encoding="utf-8")
    # When a /24 is parsed with it
    target_set = parse_targets(["198.18.0.0/24"], exclude=[f"@{excludes}"])
    # Then those three are gone
    assert len(target_set) == 253
    assert {"198.18.0.1", "198.18.0.254", "198.18.0.255"}.isdisjoint(addresses_of(target_set))
    assert target_set.excluded == (f"@{excludes}",)


def test_an_empty_exclude_file_is_allowed(tmp_path: Path) -> None:
    excludes = tmp_path / "excludes.txt"
    excludes.write_text("# nothing excluded this week\n", encoding="utf-8")
    assert len(parse_targets(["198.18.0.0/30"], exclude=[f"@{excludes}"])) == 4


def test_excluding_everything_is_an_error() -> None:
    # Given excludes that cover every target
    # When parsed
    with pytest.raises(TargetError) as caught:
        parse_targets(["198.18.0.0/30", "198.18.0.9"], exclude=["198.18.0.0/28"])
    # Then the error says nothing is left and names both sides
    message = str(caught.value)
    assert message.startswith("nothing left to scan")
    assert "198.18.0.0/28" in message and "198.18.0.0/30" in message and "198.18.0.9" in message


@pytest.mark.parametrize("spec", ["198.18.0.300", "198.18.0.0/33", "x y"])
def test_a_bad_exclude_is_refused_naming_it(spec: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_targets(["198.18.0.0/24"], exclude=[spec])
    assert str(caught.value).startswith(f"invalid --exclude {spec!r}")


# ------------------------------------------------------------------------ @files


def test_a_target_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    # Given a file with comments, blank lines, indentation and an inline comment
    hosts = tmp_path / "chargers.txt"
    hosts.write_text(
        "# bay 1\n198.18.0.10\n\n   \n  198.18.0.20-21  # bay 2, master and slave\n# end\n[2001:db8::5]\n",
        encoding="utf-8",
    )
    # When the file is the target
    target_set = parse_targets([f"@{hosts}"])
    # Then each line is a spec, in file order, and the report keeps the @file
    assert [(str(target.address), target.spec) for target in target_set] == [
        ("198.18.0.10", "198.18.0.10"),
        ("198.18.0.20", "198.18.0.20-21"),
        ("198.18.0.21", "198.18.0.20-21"),
        ("2001:db8::5", "[2001:db8::5]"),
    ]
    assert target_set.specs == (f"@{hosts}",)


def test_file_lines_keep_their_place_among_other_specs(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("198.18.0.2\n198.18.0.3\n", encoding="utf-8")
    target_set = parse_targets(["198.18.0.1", f"@{hosts}", "198.18.0.4"])
    assert addresses_of(target_set) == ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4"]


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(TargetError) as caught:
        parse_targets([f"@{missing}"])
    message = str(caught.value)
    assert message.startswith(f"invalid target '@{missing}'")
    assert "cannot read file" in message and "No such file or directory" in message


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    binary = tmp_path / "capture.pcap"
    binary.write_bytes(b"\xd4\xc3\xb2\xa1\xff\xfe")
    with pytest.raises(TargetError, match="is not UTF-8 text"):
        parse_targets([f"@{binary}"])


def test_a_bad_line_in_a_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    # Given a file whose third line is a mistyped address
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("198.18.0.1\n# comment\n198.18.0.300\n", encoding="utf-8")
    # When parsed
    with pytest.raises(TargetError) as caught:
        parse_targets([f"@{hosts}"])
    # Then the message names the line's text, the file and the line number
    assert str(caught.value).startswith(f"invalid target '198.18.0.300' ({hosts} line 3): not an IPv4/IPv6 address")


def test_a_target_file_with_no_targets_is_an_error(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# all commented out\n\n", encoding="utf-8")
    with pytest.raises(TargetError, match=r"lists nothing \(only blank lines and comments\)"):
        parse_targets([f"@{hosts}"])


def test_files_may_include_files_relative_to_themselves(tmp_path: Path) -> None:
    # Given a file that includes another by a path relative to its own directory
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "bay2.txt").write_text("198.18.0.20\n", encoding="utf-8")
    (tmp_path / "site" / "all.txt").write_text("198.18.0.10\n@bay2.txt\n198.18.0.30\n", encoding="utf-8")
    # When the outer file is the target
    target_set = parse_targets([f"@{tmp_path / 'site' / 'all.txt'}"])
    # Then the inner file's lines are spliced in place
    assert addresses_of(target_set) == ["198.18.0.10", "198.18.0.20", "198.18.0.30"]


def test_the_same_file_included_twice_is_not_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "common.txt").write_text("198.18.0.1\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("@common.txt\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("@common.txt\n198.18.0.2\n", encoding="utf-8")
    target_set = parse_targets([f"@{tmp_path / 'a.txt'}", f"@{tmp_path / 'b.txt'}"])
    assert addresses_of(target_set) == ["198.18.0.1", "198.18.0.2"]


@pytest.mark.parametrize(
    "files",
    [
        {"a.txt": "198.18.0.1\n@a.txt\n"},
        {"a.txt": "@b.txt\n", "b.txt": "198.18.0.1\n@../loop/a.txt\n"},
    ],
)
def test_circular_file_includes_are_refused(tmp_path: Path, files: dict[str, str]) -> None:
    # Given files that include themselves, directly or via another file
    loop = tmp_path / "loop"
    loop.mkdir()
    for name, text in files.items():
        (loop / name).write_text(text, encoding="utf-8")
    # When parsed
    with pytest.raises(TargetError) as caught:
        parse_targets([f"@{loop / 'a.txt'}"])
    # Then the error names the @ line and the chain
    message = str(caught.value)
    assert "includes itself" in message
    assert str((loop / "a.txt").resolve()) in message


def test_an_injected_file_reader_is_used_for_at_files() -> None:
    # Given a reader that serves files from memory
    files = {Path("/virtual/hosts.txt"): "198.18.0.7\n"}
    # When a @file is parsed with it
    target_set = parse_targets(["@/virtual/hosts.txt"], read_file=lambda path: files[path])
    # Then its content is used
    assert addresses_of(target_set) == ["198.18.0.7"]


# ------------------------------------------------------------------------- scope


@pytest.mark.parametrize(
    ("targets", "scope"),
    [
        (["198.18.0.5"], ["198.18.0.0/24"]),
        (["198.18.0.0/24"], ["198.18.0.0/24"]),
        (["198.18.0.0-198.18.1.255"], ["198.18.0.0/24", "198.18.1.0/24"]),  # covered by the union
        (["198.18.0.10-20", "2001:db8::5"], ["198.18.0.0/16", "2001:db8::/64"]),
        (["198.18.0.9"], ["198.18.0.9"]),  # an address is a /32
        (["198.18.0.12"], ["198.18.0.10-20"]),
        (["198.18.0.5"], ["198.18.0.77/16"]),  # host bits ignored, like targets
    ],
)
def test_targets_inside_the_scope_are_accepted(targets: list[str], scope: list[str]) -> None:
    target_set = parse_targets(targets, scope=scope)
    assert target_set.scope == tuple(scope)


@pytest.mark.parametrize(
    ("targets", "scope", "first_outside"),
    [
        (["198.18.1.5"], ["198.18.0.0/24"], "198.18.1.5"),
        # partial overlap: the /23's upper half is outside
        (["198.18.0.0/23"], ["198.18.0.0/24"], "198.18.1.0"),
        (["198.17.255.250-198.18.0.5"], ["198.18.0.0/24"], "198.17.255.250"),
        # a gap in the middle of the scope union
        (["198.18.0.0-198.18.2.255"], ["198.18.0.0/24", "198.18.2.0/24"], "198.18.1.0"),
        # the other family is never in an IPv4-only scope
        (["2001:db8::5"], ["198.18.0.0/15"], "2001:db8::5"),
    ],
)
def test_targets_outside_the_scope_are_refused_naming_the_first_stray_address(
    targets: list[str], scope: list[str], first_outside: str
) -> None:
    # Given targets that are not wholly inside the scope
    # When parsed
    with pytest.raises(ScopeError) as caught:
        parse_targets(targets, scope=scope)
    # Then the error names the target, the first address outside and the scope
    message = str(caught.value)
    assert f"target {targets[0]!r}" in message
    assert f"{first_outside} is not in the scope" in message
    assert f"--scope {', '.join(scope)}" in message


def test_the_scope_applies_to_resolved_addresses() -> None:
    # Given a name that resolves outside the scope
    resolve = lab_resolver({"rogue.lab": ["198.18.9.9"]})
    # Then it is refused, naming the name and what it resolved to
    with pytest.raises(ScopeError, match=r"target 'rogue\.lab' \(host name resolved to 198\.18\.9\.9\) is outside"):
        parse_targets(["rogue.lab"], scope=["198.18.0.0/24"], resolve=resolve)


def test_excludes_do_not_make_an_out_of_scope_target_acceptable() -> None:
    # The guard judges what was typed: a /23 is not "inside a /24" because half is excluded.
    with pytest.raises(ScopeError, match="198.18.1.0 is not in the scope"):
        parse_targets(["198.18.0.0/23"], exclude=["198.18.1.0/24"], scope=["198.18.0.0/24"])


def test_a_scope_file_is_read_like_a_target_file(tmp_path: Path) -> None:
    scope_file = tmp_path / "scope.txt"
    scope_file.write_text("# lab VLANs\n198.18.0.0/24\n198.18.2.0/24  # bay 3\n", encoding="utf-8")
    assert len(parse_targets(["198.18.2.0/30"], scope=[f"@{scope_file}"])) == 4
    with pytest.raises(ScopeError, match="198.18.1.0 is not in the scope"):
        parse_targets(["198.18.1.0/30"], scope=[f"@{scope_file}"])


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("lab.example", "host names are not accepted here"),
        ("198.18.0.0/40", "prefix length /40"),
        ("198.18.0.300", "not a CIDR (198.18.0.0/24)"),
        ("", "empty"),
    ],
)
def test_a_bad_scope_entry_is_a_scope_error_naming_it(scope: str, reason: str) -> None:
    with pytest.raises(ScopeError) as caught:
        parse_targets(["198.18.0.1"], scope=[scope], resolve=lab_resolver({"lab.example": ["198.18.0.1"]}))
    assert str(caught.value).startswith(f"invalid --scope {scope!r}")
    assert reason in str(caught.value)


def test_a_missing_scope_file_is_a_scope_error(tmp_path: Path) -> None:
    with pytest.raises(ScopeError, match="cannot read file"):
        parse_targets(["198.18.0.1"], scope=[f"@{tmp_path / 'missing-scope.txt'}"])


# ---------------------------------------------------------------- public addresses


@pytest.mark.parametrize(
    ("spec", "public_address"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("198.20.0.0/24", "198.20.0.0"),  # just past the lab /15
        ("198.19.255.250-198.20.0.1", "198.20.0.0"),  # straddles the end of the lab /15
        ("198.17.255.255-198.18.0.1", "198.17.255.255"),  # straddles its start
        ("2606:4700::1111", "2606:4700::1111"),
        ("0.0.0.0/0", "1.0.0.0"),
    ],
)
def test_public_addresses_are_refused_without_allow_public(spec: str, public_address: str) -> None:
    # Given a target with at least one globally reachable address
    # When parsed without allow_public (and with a limit high enough not to interfere)
    with pytest.raises(ScopeError) as caught:
        parse_targets([spec], max_addresses=1 << 32)
    # Then the error names the spec, the first public address and the way out
    message = str(caught.value)
    assert f"target {spec!r} includes public address {public_address}" in message
    assert "--allow-public" in message


@pytest.mark.parametrize("spec", ["8.8.8.8", "198.20.0.0/24", "2606:4700::1111"])
def test_allow_public_lets_public_targets_through(spec: str) -> None:
    assert len(parse_targets([spec], allow_public=True)) >= 1


def test_a_host_name_resolving_to_a_public_address_is_refused() -> None:
    resolve = lab_resolver({"cloud.example": ["198.18.0.5", "203.0.114.1"]})
    with pytest.raises(ScopeError, match=r"target 'cloud\.example' \(host name resolved to .*\) includes public"):
        parse_targets(["cloud.example"], resolve=resolve)


def test_a_public_exclude_needs_no_allow_public() -> None:
    assert len(parse_targets(["198.18.0.0/30"], exclude=["8.8.8.8"])) == 4


@pytest.mark.parametrize(
    "spec",
    [
        "198.18.0.0/15",  # RFC 2544 benchmarking: the lab
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",  # shared address space: neither private nor global
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "::1",
    ],
)
def test_non_global_ipv4_blocks_are_accepted_whole(spec: str) -> None:
    # Given a whole non-global block (larger than the default sweep limit)
    # When parsed with the limit lifted
    target_set = parse_targets([spec], max_addresses=1 << 32)
    # Then the public guard lets it through and the count is the block size
    assert len(target_set) == ipaddress.ip_network(spec).num_addresses


@pytest.mark.parametrize("spec", ["fe80::/10", "fc00::/7", "2001:db8::/32"])
def test_non_global_ipv6_blocks_pass_the_public_guard_and_stop_at_the_limit(spec: str) -> None:
    # Given a whole non-global IPv6 block: too big for any limit len() can report
    # When parsed with the largest limit
    with pytest.raises(TargetError) as caught:
        parse_targets([spec], max_addresses=sys.maxsize)
    # Then the refusal is the size limit, not the public guard (which runs first)
    assert f"{ipaddress.ip_network(spec).num_addresses:,} addresses" in str(caught.value)


def test_max_addresses_must_be_countable() -> None:
    with pytest.raises(ValueError, match="max_addresses must be between 1 and"):
        parse_targets(["198.18.0.1"], max_addresses=sys.maxsize + 1)
    with pytest.raises(ValueError, match="max_addresses must be between 1 and"):
        parse_targets(["198.18.0.1"], max_addresses=0)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=0, max_value=(1 << 32) - 1).map(IPv4Address),
        st.integers(min_value=0, max_value=(1 << 128) - 1).map(IPv6Address),
        # bias towards the edges of the special blocks, where mistakes would hide
        st.sampled_from(
            [
                "198.17.255.255",
                "198.18.0.0",
                "198.19.255.255",
                "198.20.0.0",
                "100.63.255.255",
                "100.64.0.0",
                "100.127.255.255",
                "100.128.0.0",
                "192.0.0.9",
                "192.0.0.170",
                "::ffff:8.8.8.8",
                "::ffff:198.18.0.1",
                "2001:db8::",
                "2002::1",
                "fe80::1",
                "ff02::1",
                "224.0.0.251",
                "255.255.255.255",
                "0.0.0.0",
                "2001:1::1",
                "2001:4:112::1",
            ]
        ).map(ip_address),
    )
)
def test_the_public_guard_agrees_with_ipaddress_is_global(address: IPv4Address | IPv6Address) -> None:
    # Given any single address
    # When it is parsed without allow_public
    try:
        parse_targets([str(address)])
        refused = False
    except ScopeError:
        refused = True
    # Then it is refused exactly when ipaddress calls it global
    assert refused == address.is_global


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 32) - 1), st.integers(min_value=0, max_value=300))
def test_the_public_guard_on_a_range_agrees_with_any_address_being_global(start: int, width: int) -> None:
    # Given a range of up to 301 addresses anywhere in IPv4
    last = min(start + width, (1 << 32) - 1)
    spec = f"{IPv4Address(start)}-{IPv4Address(last)}"
    # When parsed
    try:
        parse_targets([spec])
        refused = False
    except ScopeError:
        refused = True
    # Then it is refused exactly when some address in it is global
    assert refused == any(IPv4Address(number).is_global for number in range(start, last + 1))


# ------------------------------------------------------------------- size limit


def test_an_ipv6_slash_64_is_refused_by_the_default_limit() -> None:
    with pytest.raises(TargetError) as caught:
        parse_targets(["2001:db8::/64"])
    message = str(caught.value)
    assert "2001:db8::/64" in message
    assert "18,446,744,073,709,551,616 addresses" in message
    assert "split the sweep" in message and "--max-hosts" in message


@pytest.mark.parametrize(
    ("specs", "exclude", "max_addresses", "accepted"),
    [
        (["198.18.0.0/30"], [], 4, True),
        (["198.18.0.0/30"], [], 3, False),
        # the limit counts what is left after excludes and de-duplication
        (["198.18.0.0/29"], ["198.18.0.0/30"], 4, True),
        (["198.18.0.0/30", "198.18.0.0-3"], [], 4, True),
    ],
)
def test_the_limit_counts_the_final_set(
    specs: list[str], exclude: list[str], max_addresses: int, accepted: bool
) -> None:
    if accepted:
        assert len(parse_targets(specs, exclude=exclude, max_addresses=max_addresses)) == max_addresses
    else:
        with pytest.raises(TargetError, match=f"more than --max-hosts {max_addresses}"):
            parse_targets(specs, exclude=exclude, max_addresses=max_addresses)


def test_errors_are_usage_errors_so_the_cli_exits_2() -> None:
    assert issubclass(TargetError, UsageError) and issubclass(ScopeError, UsageError)


# --------------------------------------------------------------------- property


_OFFSET = st.integers(min_value=0, max_value=120)


def _range_spec(pair: tuple[int, int]) -> str:
    first, last = sorted(pair)
    return f"{IPv4Address(LAB_BASE + first)}-{IPv4Address(LAB_BASE + last)}"


@settings(max_examples=300, deadline=None)
@given(
    targets=st.lists(st.tuples(_OFFSET, _OFFSET), min_size=1, max_size=6),
    excludes=st.lists(st.tuples(_OFFSET, _OFFSET), max_size=4),
)
def test_count_matches_iteration_and_excludes_never_leak(
    targets: list[tuple[int, int]], excludes: list[tuple[int, int]]
) -> None:
    # Given random overlapping ranges and excludes in a small corner of the lab space
    wanted = {number for pair in targets for number in range(min(pair), max(pair) + 1)}
    unwanted = {number for pair in excludes for number in range(min(pair), max(pair) + 1)}
    expected = wanted - unwanted
    target_specs = [_range_spec(pair) for pair in targets]
    exclude_specs = [_range_spec(pair) for pair in excludes]
    # When parsed
    if not expected:
        with pytest.raises(TargetError, match="nothing left to scan"):
            parse_targets(target_specs, exclude=exclude_specs)
        return
    target_set = parse_targets(target_specs, exclude=exclude_specs)
    yielded = [int(target.address) - LAB_BASE for target in target_set]
    # Then the count is exact, nothing is yielded twice, and no excluded address appears
    assert len(target_set) == len(yielded) == len(expected)
    assert set(yielded) == expected
    assert unwanted.isdisjoint(yielded)
    # and each address is attributed to the first spec that names it
    for target in target_set:
        number = int(target.address) - LAB_BASE
        first_spec = next(spec for spec, pair in zip(target_specs, targets) if min(pair) <= number <= max(pair))
        assert target.spec == first_spec
