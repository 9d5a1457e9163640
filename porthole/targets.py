"""Turn the user's target, ``--exclude`` and ``--scope`` strings into a checked ``TargetSet``.

Contract:

* **Validate everything eagerly, enumerate lazily.** ``parse_targets`` reads every
  ``@file``, resolves every host name and applies the scope guard, the public-address
  guard and the ``max_addresses`` cap before it returns, so a bad input fails the run
  before a single packet is sent. The returned ``TargetSet`` yields addresses one at a
  time; a /16 never becomes a 65 536-element list or set.
* **Sets are integer intervals.** Each spec becomes sorted, merged ``[first, last]``
  intervals per address family. Membership, de-duplication, excludes, the scope check
  and counting are interval arithmetic, so their cost grows with the number of specs,
  not the number of addresses.
* **No I/O besides reading @files and resolving names**, both injectable
  (``read_file``, ``resolve``). This module never opens a socket.
* Errors are ``TargetError`` (a target, @file or ``--exclude`` that cannot be used) or
  ``ScopeError`` (a ``--scope`` entry that cannot be used, a target outside the scope,
  or a public address without ``allow_public``). Each message quotes the offending input
  and shows an accepted form.

Accepted forms (targets and excludes; ``--scope`` takes only the literal forms):

    198.18.0.5                 one IPv4 address
    2001:db8::5  [2001:db8::5] one IPv6 address, bare or in brackets
    198.18.0.0/24              CIDR block; host bits are ignored like nmap does
                               (198.18.0.5/24 means 198.18.0.0/24)
    198.18.0.10-20             last-octet range: 198.18.0.10 .. 198.18.0.20
    198.18.0.10-198.18.1.20    full range (IPv4 or IPv6, both ends the same family)
    charger.lab                host name: every address it resolves to (A and AAAA) is
                               a target; never in ``--scope``
    @hosts.txt                 one of the above per line; ``#`` starts a comment; blank
                               lines are skipped; a file may include another with ``@``
                               (relative to the including file), cycles are refused

Decisions worth knowing:

* **Network and broadcast addresses are scanned.** Like nmap, ``198.18.0.0/24`` is all
  256 addresses, including .0 and .255; a controller VLAN may well use them, and a
  silent address costs one timeout. Exclude them explicitly if needed.
* **Order** is input order (``@file`` lines in place), then ascending address order
  within a spec (IPv4 before IPv6 for a host name with both). An address named by
  two specs is yielded once, for the first spec that names it.
* **The guards judge what the user typed.** Scope and public checks apply to every
  address of each target spec *before* excludes are removed: ``--exclude`` narrows a
  sweep, it does not make an out-of-scope spec acceptable. Excludes themselves need not
  be inside the scope.
* **Public** means ``ipaddress``'s ``is_global`` is true. 198.18.0.0/15 (RFC 2544
  benchmarking, the lab space), RFC 1918, loopback, link-local, ULA, the documentation
  blocks and 100.64.0.0/10 (shared address space) are all non-global. The check is exact
  for whole ranges without enumerating them (see ``_global_intervals``).
* **IPv6 zone ids** (``fe80::1%eth0``) are refused: the report and the scope guard
  work on plain addresses, and a zone names an interface of this machine, not a target.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import socket
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

from porthole.errors import ScopeError, TargetError, UsageError

__all__ = [
    "DEFAULT_MAX_ADDRESSES",
    "Address",
    "Target",
    "TargetSet",
    "parse_targets",
    "resolve_host_name",
]

Address = IPv4Address | IPv6Address
Resolver = Callable[[str], list[Address]]
FileReader = Callable[[Path], str]

#: Default ``--max-hosts``: one /16, the largest charger VLAN we expect to sweep at once.
DEFAULT_MAX_ADDRESSES = 1 << 16

# An inclusive [first, last] run of integer addresses of one family.
_Interval = tuple[int, int]

_FAMILY_BITS = {4: 32, 6: 128}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One address to scan, with the input it came from (for the report)."""

    address: Address
    #: the host name the user gave, when the address came from resolving one
    hostname: str | None = None
    #: the user's input this address came from: the CLI string, or the @file line
    spec: str


@dataclass(frozen=True, slots=True)
class _AddressRanges:
    """A set of addresses as sorted, merged, non-adjacent intervals per family."""

    ipv4: tuple[_Interval, ...] = ()
    ipv6: tuple[_Interval, ...] = ()

    @classmethod
    def of(cls, version: int, intervals: Sequence[_Interval]) -> _AddressRanges:
        merged = _merge(intervals)
        return cls(ipv4=merged) if version == 4 else cls(ipv6=merged)

    @classmethod
    def of_addresses(cls, addresses: Sequence[Address]) -> _AddressRanges:
        return cls(
            ipv4=_merge([(int(a), int(a)) for a in addresses if a.version == 4]),
            ipv6=_merge([(int(a), int(a)) for a in addresses if a.version == 6]),
        )

    def by_version(self) -> tuple[tuple[int, tuple[_Interval, ...]], ...]:
        return ((4, self.ipv4), (6, self.ipv6))

    def intervals(self, version: int) -> tuple[_Interval, ...]:
        return self.ipv4 if version == 4 else self.ipv6

    @classmethod
    def union_of(cls, many: Iterable[_AddressRanges]) -> _AddressRanges:
        # One merge at the end, not one per operand: a long exclude file stays O(n log n).
        ipv4: list[_Interval] = []
        ipv6: list[_Interval] = []
        for ranges in many:
            ipv4.extend(ranges.ipv4)
            ipv6.extend(ranges.ipv6)
        return cls(ipv4=_merge(ipv4), ipv6=_merge(ipv6))

    def first_outside(self, other: _AddressRanges) -> Address | None:
        """The lowest address of ``self`` that ``other`` does not contain (IPv4 first)."""
        for version, intervals in self.by_version():
            remainder = _subtract(intervals, other.intervals(version))
            if remainder:
                return _make_address(version, remainder[0][0])
        return None

    def first_inside(self, other: _AddressRanges) -> Address | None:
        """The lowest address of ``self`` that ``other`` also contains (IPv4 first)."""
        for version, intervals in self.by_version():
            common = _intersect(intervals, other.intervals(version))
            if common:
                return _make_address(version, common[0][0])
        return None

    @property
    def size(self) -> int:
        # Not __len__: an IPv6 /64 has more addresses than len() can return.
        return sum(last - first + 1 for _, intervals in self.by_version() for first, last in intervals)

    def addresses(self) -> Iterator[Address]:
        for version, intervals in self.by_version():
            for first, last in intervals:
                for number in range(first, last + 1):
                    yield _make_address(version, number)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One leaf spec (a CLI string or an @file line) and the addresses it names."""

    spec: str
    hostname: str | None
    ranges: _AddressRanges


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSet:
    """The checked set of addresses to scan. Immutable; iterates lazily.

    Build it with ``parse_targets``. ``specs``, ``excluded`` and ``scope`` are the user's
    inputs as given (stripped), for the report.
    """

    specs: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    # Each entry holds only the addresses it contributes: excludes and addresses of
    # earlier entries are already subtracted, so iteration needs no bookkeeping.
    _entries: tuple[_Entry, ...] = field(default=(), repr=False)
    _count: int = field(default=0, repr=False)

    def __iter__(self) -> Iterator[Target]:
        for entry in self._entries:
            for address in entry.ranges.addresses():
                yield Target(address=address, hostname=entry.hostname, spec=entry.spec)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, (IPv4Address, IPv6Address)):
            return False
        point = _AddressRanges.of_addresses([address])
        return any(point.first_inside(entry.ranges) is not None for entry in self._entries)


# ------------------------------------------------------------------ interval math


def _make_address(version: int, number: int) -> Address:
    return IPv4Address(number) if version == 4 else IPv6Address(number)


def _merge(intervals: Sequence[_Interval]) -> tuple[_Interval, ...]:
    """Sort and merge overlapping *and adjacent* intervals, so equal sets compare equal."""
    merged: list[list[int]] = []
    for first, last in sorted(intervals):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return tuple((first, last) for first, last in merged)


def _subtract(minuend: tuple[_Interval, ...], subtrahend: tuple[_Interval, ...]) -> tuple[_Interval, ...]:
    """``minuend`` minus ``subtrahend``; both merged. One pass over both."""
    result: list[_Interval] = []
    index = 0
    for first, last in minuend:
        cursor = first
        # Skip removals entirely below this interval; they cannot touch later ones either.
        while index < len(subtrahend) and subtrahend[index][1] < cursor:
            index += 1
        probe = index
        while probe < len(subtrahend) and subtrahend[probe][0] <= last:
            removal_first, removal_last = subtrahend[probe]
            if removal_first > cursor:
                result.append((cursor, removal_first - 1))
            cursor = max(cursor, removal_last + 1)
            probe += 1
        if cursor <= last:
            result.append((cursor, last))
    return tuple(result)


def _intersect(left: tuple[_Interval, ...], right: tuple[_Interval, ...]) -> tuple[_Interval, ...]:
    result: list[_Interval] = []
    left_index = right_index = 0
    while left_index < len(left) and right_index < len(right):
        first = max(left[left_index][0], right[right_index][0])
        last = min(left[left_index][1], right[right_index][1])
        if first <= last:
            result.append((first, last))
        if left[left_index][1] < right[right_index][1]:
            left_index += 1
        else:
            right_index += 1
    return tuple(result)


class _ClaimedSpace:
    """Addresses already spoken for (excluded, or yielded by an earlier spec).

    ``claim`` returns the part of a spec not yet claimed and claims it. Kept as sorted
    parallel lists and searched with bisect, so a 10 000-line @file of single addresses
    costs O(n log n), not the O(n^2) of re-merging the whole set per line.
    """

    def __init__(self, initial: _AddressRanges) -> None:
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, intervals in initial.by_version():
            self._starts[version] = [first for first, _ in intervals]
            self._ends[version] = [last for _, last in intervals]

    def claim(self, ranges: _AddressRanges) -> _AddressRanges:
        unclaimed: dict[int, list[_Interval]] = {4: [], 6: []}
        for version, intervals in ranges.by_version():
            for first, last in intervals:
                unclaimed[version].extend(self._claim_one(version, first, last))
        return _AddressRanges(ipv4=tuple(unclaimed[4]), ipv6=tuple(unclaimed[6]))

    def _claim_one(self, version: int, first: int, last: int) -> list[_Interval]:
        starts, ends = self._starts[version], self._ends[version]
        low = bisect_left(ends, first)  # first claimed interval ending at or after `first`
        high = bisect_right(starts, last)  # claimed intervals [low, high) overlap [first, last]
        gaps: list[_Interval] = []
        cursor = first
        for index in range(low, high):
            if starts[index] > cursor:
                gaps.append((cursor, starts[index] - 1))
            cursor = max(cursor, ends[index] + 1)
        if cursor <= last:
            gaps.append((cursor, last))
        # Record [first, last] as claimed, merged with what it overlaps or touches.
        merged_first = min(first, starts[low]) if low < high else first
        merged_last = max(last, ends[high - 1]) if low < high else last
        if low > 0 and ends[low - 1] == merged_first - 1:
            low -= 1
            merged_first = starts[low]
        if high < len(starts) and starts[high] == merged_last + 1:
            merged_last = ends[high]
            high += 1
        starts[low:high] = [merged_first]
        ends[low:high] = [merged_last]
        return gaps


# --------------------------------------------------------------- the public guard


@functools.cache
def _global_intervals(version: int) -> tuple[_Interval, ...]:
    """The addresses of one family for which ``ipaddress`` says ``is_global``, as intervals.

    ``is_global`` is a yes/no answer per address, decided by membership in a handful of
    special-purpose blocks (the IANA registries) that differ between Python releases.
    Every block boundary is a place where the answer may change, so between two
    consecutive boundaries it is constant and one sample decides the whole segment.
    The boundaries are collected from ``ipaddress``'s own tables (so this agrees with
    the running Python exactly) plus our own list (in case a release hard-codes a block
    inside a method); an extra boundary only splits a segment, it never changes a result.
    IPv4-mapped IPv6 addresses inherit their IPv4 answer in newer releases, so the IPv4
    boundaries are also placed inside ::ffff:0:0/96.
    """
    size = 1 << _FAMILY_BITS[version]
    boundaries = {0, size}
    for network in _special_networks(version):
        boundaries.update((int(network.network_address), int(network.broadcast_address) + 1))
    if version == 6:
        mapped_base = int(IPv6Address("::ffff:0:0"))
        for network in _special_networks(4):
            boundaries.update(
                (mapped_base + int(network.network_address), mapped_base + int(network.broadcast_address) + 1)
            )
    points = sorted(boundaries)
    global_segments = [
        (start, end - 1) for start, end in itertools.pairwise(points) if _make_address(version, start).is_global
    ]
    return _merge(global_segments)


# Non-globally-reachable blocks from the IANA IPv4/IPv6 special-purpose address
# registries, plus multicast. Only boundaries are taken from here (see above).
_EXTRA_SPECIAL_NETWORKS = (
    # IPv4
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.0.9/32", "192.0.0.10/32", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    # IPv6
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001::/32", "2001:1::1/128", "2001:1::2/128", "2001:2::/48", "2001:3::/32", "2001:4:112::/48",
    "2001:10::/28", "2001:20::/28", "2001:30::/28", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16",
    "fc00::/7", "fe80::/10", "ff00::/8",
)  # fmt: skip


def _special_networks(version: int) -> list[IPv4Network | IPv6Network]:
    networks: list[IPv4Network | IPv6Network] = [
        network for network in map(ipaddress.ip_network, _EXTRA_SPECIAL_NETWORKS) if network.version == version
    ]
    # ipaddress keeps its tables on a private constants class; read every network
    # there generically so a Python update that adds a block is picked up.
    address_class = IPv4Address if version == 4 else IPv6Address
    for value in vars(getattr(address_class, "_constants", object)).values():
        candidates = value if isinstance(value, (list, tuple)) else [value]
        networks.extend(item for item in candidates if isinstance(item, (IPv4Network, IPv6Network)))
    return networks


def _global_ranges() -> _AddressRanges:
    return _AddressRanges(ipv4=_global_intervals(4), ipv6=_global_intervals(6))


# ------------------------------------------------------------------------ parsing


class _Invalid(Exception):
    """A spec cannot be parsed; ``reason`` says why. Wrapped into the role's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class _Role:
    """How one list of specs is read: targets, excludes or the scope."""

    #: how the input is named in messages ("target", "--exclude", "--scope")
    noun: str
    error: type[UsageError]
    host_names_allowed: bool
    #: the accepted forms, appended to a message when the input is not any of them
    accepted: str
    #: an empty @file is probably a mistake for targets and scope, harmless for excludes
    empty_file_allowed: bool


_TARGET_ROLE = _Role(
    noun="target",
    error=TargetError,
    host_names_allowed=True,
    accepted="an IPv4/IPv6 address, CIDR (198.18.0.0/24), range (198.18.0.10-20), host name or @file",
    empty_file_allowed=False,
)
_EXCLUDE_ROLE = _Role(
    noun="--exclude",
    error=TargetError,
    host_names_allowed=True,
    accepted="an IPv4/IPv6 address, CIDR (198.18.0.0/24), range (198.18.0.10-20), host name or @file",
    empty_file_allowed=True,
)
_SCOPE_ROLE = _Role(
    noun="--scope",
    error=ScopeError,
    host_names_allowed=False,
    accepted="a CIDR (198.18.0.0/24), an IPv4/IPv6 address, a range (198.18.0.10-20) or @file",
    empty_file_allowed=False,
)

# RFC 1123 labels; underscores are tolerated because site-local names use them and
# the resolver, not we, is the authority on what exists.
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def resolve_host_name(name: str) -> list[Address]:
    """Resolve ``name`` with the system resolver (``getaddrinfo``): all IPv4 and IPv6 addresses.

    Raises ``OSError`` (``socket.gaierror``) when the name does not resolve.
    """
    addresses: list[Address] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if isinstance(address, IPv6Address) and len(sockaddr) == 4 and sockaddr[3] and not address.scope_id:
            # Keep the zone so the caller can refuse it rather than silently dropping it.
            address = IPv6Address(f"{address}%{sockaddr[3]}")
        if address not in addresses:
            addresses.append(address)
    return addresses


def _read_text_file(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@dataclass(slots=True, kw_only=True)
class _Reader:
    """Expands one role's specs (including @files) into entries. Used once, then dropped."""

    role: _Role
    resolve: Resolver
    read_file: FileReader

    def expand(self, specs: Sequence[str]) -> list[_Entry]:
        entries: list[_Entry] = []
        for spec in specs:
            self._expand_one(spec, entries, origin=None, base=None, including=())
        return entries

    def _expand_one(
        self, spec: str, entries: list[_Entry], *, origin: str | None, base: Path | None, including: tuple[Path, ...]
    ) -> None:
        text = spec.strip()
        if text.startswith("@"):
            self._expand_file(spec, text[1:], entries, origin=origin, base=base, including=including)
            return
        try:
            entries.append(self._parse_leaf(text))
        except _Invalid as invalid:
            raise self._error(spec, origin, invalid.reason) from None

    def _expand_file(
        self,
        spec: str,
        name: str,
        entries: list[_Entry],
        *,
        origin: str | None,
        base: Path | None,
        including: tuple[Path, ...],
    ) -> None:
        if not name.strip():
            raise self._error(spec, origin, "'@' needs a file name, e.g. @chargers.txt")
        path = Path(name.strip()).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        # Compare files by resolved path, so a cycle through a symlink or ../ is caught.
        identity = path.resolve()
        if identity in including:
            chain = " -> ".join([str(step) for step in including] + [str(identity)])
            raise self._error(spec, origin, f"@file includes itself ({chain}); remove the circular @ line")
        try:
            content = self.read_file(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise self._error(spec, origin, f"cannot read file {str(path)!r}: {reason}") from None
        except UnicodeDecodeError:
            raise self._error(spec, origin, f"file {str(path)!r} is not UTF-8 text") from None
        count_before = len(entries)
        for line_number, raw_line in enumerate(content.splitlines(), start=1):
            line = raw_line.split("#", 1)[0].strip()
            if not line:
                continue
            self._expand_one(
                line,
                entries,
                origin=f"{path} line {line_number}",
                base=path.parent,
                including=including + (identity,),
            )
        if len(entries) == count_before and not self.role.empty_file_allowed:
            raise self._error(spec, origin, f"file {str(path)!r} lists nothing (only blank lines and comments)")

    def _error(self, spec: str, origin: str | None, reason: str) -> UsageError:
        where = f" ({origin})" if origin else ""
        return self.role.error(f"invalid {self.role.noun} {spec!r}{where}: {reason}")

    def _parse_leaf(self, text: str) -> _Entry:
        if not text:
            raise _Invalid(f"empty; give {self.role.accepted}")
        if any(character.isspace() for character in text):
            raise _Invalid(f"contains whitespace; give one {self.role.noun} per argument or @file line")
        if "%" in text:
            raise _Invalid(
                "IPv6 zone ids (%interface) are not supported; give the address without the zone, "
                "e.g. a global or unique-local address such as fd00::5"
            )
        if text.startswith("[") or text.endswith("]"):
            return _Entry(spec=text, hostname=None, ranges=_parse_bracketed(text))
        if "/" in text:
            return _Entry(spec=text, hostname=None, ranges=_parse_cidr(text))
        address = _try_address(text)
        if address is not None:
            return _Entry(spec=text, hostname=None, ranges=_AddressRanges.of_addresses([address]))
        if "-" in text:
            start_text, _, end_text = text.partition("-")
            start = _try_address(start_text)
            if start is not None:
                return _Entry(spec=text, hostname=None, ranges=_parse_range(start, end_text))
        return self._parse_host_name(text)

    def _parse_host_name(self, text: str) -> _Entry:
        if not _looks_like_host_name(text):
            raise _Invalid(f"not {self.role.accepted}")
        if not self.role.host_names_allowed:
            raise _Invalid(
                "host names are not accepted here, so that DNS cannot widen the scope; "
                "give the CIDR, e.g. 198.18.0.0/24"
            )
        try:
            addresses = list(self.resolve(text))
        except (OSError, UnicodeError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc)
            raise _Invalid(f"host name does not resolve ({detail}); check the name or give the address") from None
        if not addresses:
            raise _Invalid("host name resolves to no addresses; check the name or give the address")
        zoned = [address for address in addresses if getattr(address, "scope_id", None)]
        if zoned:
            raise _Invalid(
                f"host name resolves to {zoned[0]}, which carries an IPv6 zone id; zone ids are not "
                "supported, give the address without the zone"
            )
        return _Entry(spec=text, hostname=text, ranges=_AddressRanges.of_addresses(addresses))


def _try_address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _looks_like_host_name(text: str) -> bool:
    name = text.removesuffix(".")  # a fully qualified name may end in the root's dot
    if not name or len(name) > 253 or not name.isascii():
        return False
    labels = name.split(".")
    # An all-numeric last label is a mistyped address (198.18.0.300), never a name (RFC 3696 2).
    return all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def _parse_bracketed(text: str) -> _AddressRanges:
    address = _try_address(text[1:-1]) if text.startswith("[") and text.endswith("]") else None
    if not isinstance(address, IPv6Address):
        raise _Invalid("brackets only enclose a single IPv6 address, e.g. [2001:db8::5]")
    return _AddressRanges.of_addresses([address])


def _parse_cidr(text: str) -> _AddressRanges:
    address_text, _, prefix_text = text.partition("/")
    address = _try_address(address_text)
    if address is None:
        raise _Invalid(f"{address_text!r} before the '/' is not an IPv4/IPv6 address; e.g. 198.18.0.0/24")
    bits = _FAMILY_BITS[address.version]
    if prefix_text.isdigit() and int(prefix_text) > bits:
        raise _Invalid(
            f"prefix length /{int(prefix_text)} is longer than an IPv{address.version} address ({bits} bits); "
            f"e.g. {'198.18.0.0/24' if address.version == 4 else '2001:db8::/120'}"
        )
    try:
        # strict=False: like nmap, 198.18.0.5/24 means the /24 that contains .5.
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _Invalid(
            f"{prefix_text!r} after the '/' is not a prefix length (0-{bits}) or netmask; e.g. 198.18.0.0/24"
        ) from None
    return _AddressRanges.of(network.version, [(int(network.network_address), int(network.broadcast_address))])


def _parse_range(start: Address, end_text: str) -> _AddressRanges:
    end: Address | None
    if end_text.isdigit() and start.version == 4:
        # nmap's short form: 198.18.0.10-20 replaces the last octet.
        octet = int(end_text)
        if octet > 255:
            raise _Invalid(f"range end {end_text} is not an octet (0-255); e.g. 198.18.0.10-20")
        end = IPv4Address((int(start) & ~0xFF) | octet)
    else:
        end = _try_address(end_text)
        if end is None:
            hint = (
                "e.g. 198.18.0.10-20 or 198.18.0.10-198.18.0.20"
                if start.version == 4
                else "IPv6 ranges need both ends in full, e.g. 2001:db8::10-2001:db8::20"
            )
            raise _Invalid(f"range end {end_text!r} is not an address; {hint}")
    if end.version != start.version:
        raise _Invalid(
            f"range mixes IPv{start.version} {start} and IPv{end.version} {end}; both ends must be the same family"
        )
    if int(end) < int(start):
        raise _Invalid(f"range end {end} is before its start {start}; write ranges low-high, e.g. 198.18.0.10-20")
    return _AddressRanges.of(start.version, [(int(start), int(end))])


# ------------------------------------------------------------------------- checks


def _check_scope(entries: Sequence[_Entry], scope_entries: Sequence[_Entry], scope: Sequence[str]) -> None:
    allowed = _AddressRanges.union_of(scope_entry.ranges for scope_entry in scope_entries)
    for entry in entries:
        outside = entry.ranges.first_outside(allowed)
        if outside is not None:
            raise ScopeError(
                f"target {entry.spec!r}{_resolved_note(entry)} is outside --scope {', '.join(scope)}: "
                f"{outside} is not in the scope; drop or narrow the target, or widen --scope"
            )


def _check_public(entries: Sequence[_Entry]) -> None:
    public = _global_ranges()
    for entry in entries:
        first_public = entry.ranges.first_inside(public)
        if first_public is not None:
            raise ScopeError(
                f"target {entry.spec!r}{_resolved_note(entry)} includes public address {first_public}: porthole "
                "scans private, loopback, link-local, documentation and benchmarking space (198.18.0.0/15) "
                "unless --allow-public is given; use it only for networks you are authorised to test"
            )


def _resolved_note(entry: _Entry) -> str:
    return f" (host name resolved to {', '.join(map(str, entry.ranges.addresses()))})" if entry.hostname else ""


# ---------------------------------------------------------------------- the API


def parse_targets(
    specs: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    scope: Sequence[str] = (),
    allow_public: bool = False,
    max_addresses: int = DEFAULT_MAX_ADDRESSES,
    resolve: Resolver | None = None,
    read_file: FileReader | None = None,
) -> TargetSet:
    """Parse, resolve and check targets; return the lazily-iterated ``TargetSet``.

    Checks, in order: every spec parses (``TargetError``/``ScopeError`` for scope
    entries); every target address is inside ``scope`` when one is given and no target
    address is public unless ``allow_public`` (``ScopeError``); something is left after
    excludes, and no more than ``max_addresses`` (``TargetError``).
    ``resolve`` defaults to ``getaddrinfo``; ``read_file`` to reading UTF-8 from disk.
    """
    for name, value in (("specs", specs), ("exclude", exclude), ("scope", scope)):
        if isinstance(value, str):
            # A bare string is a Sequence[str] of characters: a programming error.
            raise TypeError(f"{name} must be a sequence of strings, not a single string")
    if not 1 <= max_addresses <= sys.maxsize:
        # len() cannot report more than sys.maxsize, and no sweep is that large anyway.
        raise ValueError(f"max_addresses must be between 1 and {sys.maxsize}, not {max_addresses}")
    if not specs:
        raise TargetError(f"no targets given: give {_TARGET_ROLE.accepted}")

    def reader(role: _Role) -> _Reader:
        return _Reader(role=role, resolve=resolve or resolve_host_name, read_file=read_file or _read_text_file)

    target_entries = reader(_TARGET_ROLE).expand(specs)
    exclude_entries = reader(_EXCLUDE_ROLE).expand(exclude)
    scope_entries = reader(_SCOPE_ROLE).expand(scope)

    if scope:
        _check_scope(target_entries, scope_entries, scope)
    if not allow_public:
        _check_public(target_entries)

    excluded = _AddressRanges.union_of(exclude_entry.ranges for exclude_entry in exclude_entries)
    claimed = _ClaimedSpace(excluded)
    kept: list[_Entry] = []
    count = 0
    for entry in target_entries:
        remaining = claimed.claim(entry.ranges)
        if remaining.size:
            kept.append(_Entry(spec=entry.spec, hostname=entry.hostname, ranges=remaining))
            count += remaining.size

    if count == 0:
        raise TargetError(
            f"nothing left to scan: --exclude {', '.join(exclude)} removes every address of "
            f"{', '.join(specs)}; narrow the excludes"
        )
    if count > max_addresses:
        raise TargetError(
            f"targets {', '.join(specs)} add up to {count:,} addresses, more than --max-hosts {max_addresses}: "
            "split the sweep into smaller blocks (e.g. one /24 at a time) or raise --max-hosts"
        )
    return TargetSet(
        specs=tuple(spec.strip() for spec in specs),
        excluded=tuple(spec.strip() for spec in exclude),
        scope=tuple(spec.strip() for spec in scope),
        _entries=tuple(kept),
        _count=count,
    )
