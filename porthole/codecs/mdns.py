"""mDNS / DNS-SD on top of ``porthole.codecs.dns``: legacy-unicast queries and SHIP TXT keys.

Legacy unicast (RFC 6762 §6.7): a plain DNS query sent from an ephemeral port (not
5353) to ``<host>:5353`` is answered by unicast to that port, with the query id
echoed. The query carries no QU bit (that is for queries *from* port 5353, §5.4)
and asks for no recursion.

DNS-SD (RFC 6763): ``_services._dns-sd._udp.local. PTR`` lists service types (§9);
``<type> PTR`` lists instances; ``<instance> SRV`` gives host and port, ``<instance>
TXT`` the key/value pairs (§6). A TXT string is ``key=value`` or a bare ``key``
(boolean attribute); keys are case-insensitive and only the first occurrence of a key
counts (§6.4); a TXT record holding one empty string means "no keys" (§6.1).

SHIP's TXT keys (SHIP §7.3.2, protocols.md §8.1)::

    txtvers=1  id=<SHIP id>  path=/ship/  ski=<40 hex>  register=true|false
    brand=...  model=...  type=...  serial=...  cat=1,3

SKIs are compared after ship-go's ``NormalizeSKI``: spaces and ``-`` removed,
lower-cased.

Instance names are free text (spaces, dots, UTF-8): ``dns.read_name`` returns them
escaped (``CC\\032master``, ``a\\.b``); ``encode_presentation_name`` undoes that
escaping, so a name read from a reply can be asked about again byte for byte.

Contract: pure (the query id is an argument), bounded (``MAX_TXT_KEYS``), only
``CodecError`` on bad input.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from porthole.codecs._errors import CodecError
from porthole.codecs.dns import QCLASS_IN, QTYPE_A, QTYPE_AAAA, QTYPE_PTR, QTYPE_SRV, QTYPE_TXT, DnsMessage, DnsRecord, SrvData

__all__ = [
    "MDNS_PORT",
    "SERVICES_ENUMERATION",
    "SHIP_SERVICE",
    "MAX_TXT_KEYS",
    "ShipTxt",
    "encode_presentation_name",
    "build_legacy_query",
    "parse_txt",
    "normalise_ski",
    "is_valid_ski",
    "ship_txt",
    "ptr_targets",
    "srv_of",
    "txt_of",
    "addresses_of",
]

MDNS_PORT = 5353
SERVICES_ENUMERATION = "_services._dns-sd._udp.local."
SHIP_SERVICE = "_ship._tcp.local."
#: keys kept from one TXT record; a hostile responder may send hundreds
MAX_TXT_KEYS = 64
#: the TXT keys SHIP defines; others are kept apart as ``other``
SHIP_KEYS = ("txtvers", "id", "path", "ski", "register", "brand", "model", "type", "serial", "cat")

_ESCAPE = re.compile(rb"\\(\d{3}|.)", re.DOTALL)
_SKI = re.compile(r"[0-9a-f]{40}")
_MAX_NAME = 255


def encode_presentation_name(name: str) -> bytes:
    """Wire form of a name in ``dns.read_name``'s presentation form (escapes undone).

    ``"CC\\\\032master._ship._tcp.local."`` → ``b"\\x09CC master\\x05_ship..."``.
    """
    if name in ("", "."):
        return b"\x00"
    raw = name.encode("utf-8")
    labels: list[bytes] = []
    current = bytearray()
    position = 0
    while position < len(raw):
        byte = raw[position : position + 1]
        if byte == b"\\":
            match = _ESCAPE.match(raw, position)
            if match is None:
                raise CodecError(f"DNS name {name!r} ends with a lone backslash", offset=position)
            escaped = match.group(1)
            if len(escaped) == 3:
                value = int(escaped)
                if value > 255:
                    raise CodecError(f"DNS name {name!r}: escape \\{escaped.decode()} is not a byte", offset=position)
                current.append(value)
            else:
                current += escaped
            position = match.end()
            continue
        if byte == b".":
            labels.append(bytes(current))
            current = bytearray()
        else:
            current += byte
        position += 1
    if current:
        labels.append(bytes(current))
    out = bytearray()
    for label in labels:
        if not 0 < len(label) <= 63:
            raise CodecError(f"DNS name {name!r}: every label must be 1-63 bytes")
        out += bytes([len(label)]) + label
    out += b"\x00"
    if len(out) > _MAX_NAME:
        raise CodecError(f"DNS name {name!r} is longer than 255 bytes")
    return bytes(out)


def build_legacy_query(query_id: int, name: str, qtype: int) -> bytes:
    """One legacy-unicast question (RFC 6762 §6.7): no RD, no QU bit, class IN."""
    if not 0 <= query_id <= 0xFFFF:
        raise CodecError("DNS id must fit in 16 bits")
    return struct.pack("!HHHHHH", query_id, 0, 1, 0, 0, 0) + encode_presentation_name(name) + struct.pack("!HH", qtype, QCLASS_IN)


def parse_txt(strings: Iterable[bytes]) -> dict[str, str | None]:
    """DNS-SD TXT strings → ``{key: value}`` (``None`` for a bare boolean key).

    Keys are lower-cased (case-insensitive, RFC 6763 §6.4); the first occurrence
    wins; empty strings and strings starting with ``=`` (no key) are skipped (§6.4).
    Values are decoded as UTF-8 with invalid bytes replaced: they are evidence for a
    report, not input to anything. At most ``MAX_TXT_KEYS`` keys are kept.
    """
    pairs: dict[str, str | None] = {}
    for text in strings:
        if not text or text.startswith(b"="):
            continue
        key, separator, value = text.partition(b"=")
        name = key.decode("ascii", "replace").lower()
        if name in pairs:
            continue
        if len(pairs) == MAX_TXT_KEYS:
            break
        pairs[name] = value.decode("utf-8", "replace") if separator else None
    return pairs


def normalise_ski(text: str) -> str:
    """ship-go's ``NormalizeSKI``: spaces and ``-`` removed, lower case."""
    return text.replace(" ", "").replace("-", "").lower()


def is_valid_ski(normalised: str) -> bool:
    """40 hex digits: the SHA-1 SubjectKeyIdentifier SHIP uses."""
    return _SKI.fullmatch(normalised) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipTxt:
    """SHIP's TXT keys as announced; ``None`` for a key that is absent."""

    txtvers: str | None = None
    id: str | None = None
    path: str | None = None
    #: normalised (``normalise_ski``) when present
    ski: str | None = None
    ski_valid: bool = False
    #: ``True``/``False`` for "true"/"false" (any case); ``None`` when absent or other
    register: bool | None = None
    register_raw: str | None = None
    brand: str | None = None
    model: str | None = None
    type: str | None = None
    serial: str | None = None
    cat: str | None = None
    #: every other key, as announced
    other: dict[str, str | None] = field(default_factory=dict)


def ship_txt(pairs: Mapping[str, str | None]) -> ShipTxt:
    """The SHIP view of parsed TXT pairs (``parse_txt``)."""
    ski = normalise_ski(pairs["ski"]) if pairs.get("ski") is not None else None
    register_raw = pairs.get("register")
    register = {"true": True, "false": False}.get((register_raw or "").lower())
    return ShipTxt(
        txtvers=pairs.get("txtvers"),
        id=pairs.get("id"),
        path=pairs.get("path"),
        ski=ski,
        ski_valid=ski is not None and is_valid_ski(ski),
        register=register,
        register_raw=register_raw,
        brand=pairs.get("brand"),
        model=pairs.get("model"),
        type=pairs.get("type"),
        serial=pairs.get("serial"),
        cat=pairs.get("cat"),
        other={key: value for key, value in pairs.items() if key not in SHIP_KEYS},
    )


# --- reading DNS-SD answers out of parsed messages -----------------------------------


def _records(messages: Iterable[DnsMessage]) -> Iterable[DnsRecord]:
    for message in messages:
        yield from message.answers
        yield from message.additionals


def _same(left: str, right: str) -> bool:
    return left.lower() == right.lower()


def ptr_targets(messages: Iterable[DnsMessage], name: str) -> tuple[str, ...]:
    """PTR targets of ``name`` across answers and additionals, first occurrence order, no duplicates."""
    seen: dict[str, None] = {}
    for record in _records(messages):
        if record.rtype == QTYPE_PTR and _same(record.name, name) and isinstance(record.value, str):
            seen.setdefault(record.value, None)
    return tuple(seen)


def srv_of(messages: Iterable[DnsMessage], instance: str) -> SrvData | None:
    for record in _records(messages):
        if record.rtype == QTYPE_SRV and _same(record.name, instance) and isinstance(record.value, SrvData):
            return record.value
    return None


def txt_of(messages: Iterable[DnsMessage], instance: str) -> tuple[bytes, ...] | None:
    for record in _records(messages):
        if record.rtype == QTYPE_TXT and _same(record.name, instance) and isinstance(record.value, tuple):
            return record.value
    return None


def addresses_of(messages: Iterable[DnsMessage], host: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for record in _records(messages):
        if record.rtype in (QTYPE_A, QTYPE_AAAA) and _same(record.name, host) and record.value is not None:
            seen.setdefault(str(record.value), None)
    return tuple(seen)
